import MBoxPacket

/// A `threshold.config` file, as Suricata reads it: `threshold`/`event_filter` lines set a
/// rule's threshold (replacing its own keyword), `suppress` lines silence a rule's alerts
/// (for some addresses, or all). `gen_id 0, sig_id 0` means every rule.
public struct ThresholdConfig: Sendable {
    public struct Suppression: Sendable {
        public enum Track: String, Sendable { case bySource = "by_src", byDestination = "by_dst", byEither = "by_either" }
        /// Nil: every alert of the rule.
        public var track: Track?
        public var addresses: AddressSpec
    }

    public struct Entry: Sendable {
        public var gid: UInt32
        public var sid: UInt32
        public var threshold: Threshold?
        public var suppression: Suppression?

        func applies(to rule: Rule) -> Bool {
            (gid == 0 && sid == 0) || (sid == rule.sid && (gid == 0 || gid == rule.gid))
        }
    }

    public var entries: [Entry] = []
    public var problems: [RuleProblem] = []

    public init() {}

    /// Parses the file's text; a bad line is reported (file, line) and skipped.
    public init(_ text: String, file: String, parser: RuleParser = RuleParser()) {
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            let line = raw.trimmingCharacters(in: " \t\r")
            guard !line.isEmpty, !line.hasPrefix("#") else { continue }
            do {
                entries.append(try Self.entry(line, parser: parser))
            } catch let error as OptionError {
                problems.append(RuleProblem(file: file, line: index + 1, sid: nil, message: error.text))
            } catch {
                problems.append(RuleProblem(file: file, line: index + 1, sid: nil, message: "\(error)"))
            }
        }
    }

    static func entry(_ line: String, parser: RuleParser) throws -> Entry {
        guard let space = line.firstIndex(where: { $0 == " " || $0 == "\t" }) else { throw OptionError("'\(line)' is not an entry") }
        let kind = String(line[..<space])
        var fields: [String: String] = [:]
        for part in OptionBuilder.parts(String(line[space...])) {
            let words = part.split(separator: " ", maxSplits: 1).map { $0.trimmingCharacters(in: " \t") }
            guard words.count == 2 else { throw OptionError("'\(part)' is not 'name value'") }
            fields[words[0]] = words[1]
        }
        guard let gid = fields["gen_id"].flatMap({ UInt32($0) }), let sid = fields["sig_id"].flatMap({ UInt32($0) }) else {
            throw OptionError("\(kind) needs gen_id and sig_id")
        }
        var entry = Entry(gid: gid, sid: sid)
        switch kind {
        case "threshold", "event_filter":
            let text = ["type", "track", "count", "seconds"].compactMap { key in fields[key].map { "\(key) \($0)" } }.joined(separator: ", ")
            entry.threshold = try ThresholdKeyword.parse(text, keyword: kind)
        case "suppress":
            var suppression = Suppression(track: nil, addresses: .any)
            if let track = fields["track"] {
                guard let parsed = Suppression.Track(rawValue: track) else { throw OptionError("suppress: track '\(track)' is not by_src, by_dst or by_either") }
                guard let ip = fields["ip"] else { throw OptionError("suppress with a track needs an ip") }
                suppression.track = parsed
                do { suppression.addresses = try parser.parseAddress(ip) } catch { throw OptionError("suppress: bad ip '\(ip)'") }
            }
            entry.suppression = suppression
        case "rate_filter":
            throw OptionError("rate_filter is not supported (it changes actions, which needs inline rate state)")
        default:
            throw OptionError("unknown entry '\(kind)' (threshold, event_filter, suppress)")
        }
        return entry
    }

    /// `set` with every entry applied: thresholds set on their rules, suppressions attached.
    public func apply(to set: RuleSet) -> RuleSet {
        var result = set
        for index in result.rules.indices {
            for entry in entries where entry.applies(to: result.rules[index]) {
                if let threshold = entry.threshold { result.rules[index].threshold = threshold }
                if let suppression = entry.suppression { result.rules[index].suppressions.append(suppression) }
            }
        }
        result.problems += problems
        return result
    }
}

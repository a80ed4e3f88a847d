import MBoxMatch
import MBoxPacket
import MBoxRules

/// A rule compiled for detection.
struct CompiledRule {
    /// Sections in evaluation order (`base64_data` after the section that decodes).
    var sections: [CompiledSection]
    /// Flow/xbit operations with bit indices: tests, then the changes made on a match.
    var bitTests: [(BitOperation, [Int])]
    var bitChanges: [(BitOperation, [Int])]
    /// Whether the rule inspects the packet/stream payload, and whether any app buffer.
    var inspectsPayload: Bool
    var inspectsApp: Bool
}

/// Rules compiled for matching, shared read-only by every worker: the rules in evaluation
/// order (pass, drop, reject, alert; flowbit setters before checkers), their compiled
/// payload tests, and a prefilter per buffer: a Hyperscan database of each rule's fast
/// pattern, so that only rules whose pattern occurs are evaluated (Suricata's MPM).
///
/// `@unchecked Sendable`: built once on one thread, then only read (every worker's detector
/// holds it); its Hyperscan databases and PCRE2 codes are shareable.
public final class DetectEngine: @unchecked Sendable {
    public let rules: [Rule]
    /// Rules refused while parsing or compiling, with file, line and reason.
    public let problems: [RuleProblem]
    let compiled: [CompiledRule]
    let regexes: [Regex]
    /// Prefilter databases (pattern id = rule index), one per buffer and transform list:
    /// a transformed buffer is scanned transformed.
    let prefilters: [PrefilterGroup]
    /// Per buffer: rules with a section there but no content to prefilter with.
    let unfiltered: [[Int32]]
    /// The longest fast pattern of the payload prefilter (a stream's new bytes are scanned
    /// from that far before them).
    let longestPayloadPattern: Int
    /// Rules without any payload test (header, flow, size, flag tests only).
    let headerOnly: [Int32]
    /// Flowbit and xbit names, indexed.
    let bitCount: Int
    /// What the rule set needs the data path to deliver.
    public let needs: DetectionNeeds
    /// The rules' address and port parts, flattened.
    let headers: HeaderMatcher
    /// Header-only rules by address.
    let headerOnlyIndex: AddressIndex

    /// Bytes of the compiled prefilter databases.
    public var prefilterBytes: Int { prefilters.reduce(0) { $0 + $1.database.bytes } }

    /// Compiles `set`; rules whose regular expressions PCRE2 refuses are reported, not loaded.
    public init(_ set: RuleSet) throws {
        var problems = set.problems
        var regexes: [Regex] = []
        var bitIndex: [String: Int] = [:]
        func bitIndices(_ operation: BitOperation) -> [Int] {
            operation.names.map { name in
                let key = "\(operation.scope)|\(name)"
                if let index = bitIndex[key] { return index }
                bitIndex[key] = bitIndex.count
                return bitIndex.count - 1
            }
        }
        var accepted: [(Rule, CompiledRule)] = []
        for rule in set.rules {
            var variables: [String: Int] = [:]
            for section in rule.sections {
                for case let .byteExtract(extract) in section.matches { variables[extract.name] = extract.slot }
            }
            if variables.count > 16 {
                problems.append(RuleProblem(file: rule.file, line: rule.line, sid: rule.sid,
                                            message: "more than 16 byte_extract variables", keyword: "byte_extract"))
                continue
            }
            do {
                var ruleRegexes: [Regex] = []
                let ordered = rule.sections.filter { $0.buffer != .base64Data } + rule.sections.filter { $0.buffer == .base64Data }
                var sections = try ordered.map { try CompiledSection($0, variables: variables, regexes: &ruleRegexes) }
                // Regex indices are per rule while compiling; make them global.
                for sectionIndex in sections.indices {
                    for itemIndex in sections[sectionIndex].items.indices {
                        if case let .pcre(regex, negated, relative) = sections[sectionIndex].items[itemIndex] {
                            sections[sectionIndex].items[itemIndex] = .pcre(regex: regex + regexes.count, negated: negated,
                                                                            relative: relative)
                        }
                    }
                }
                regexes += ruleRegexes
                let tests = rule.bits.filter(\.isTest).map { ($0, bitIndices($0)) }
                let changes = rule.bits.filter { !$0.isTest }.map { ($0, bitIndices($0)) }
                accepted.append((rule, CompiledRule(
                    sections: sections, bitTests: tests, bitChanges: changes,
                    inspectsPayload: sections.contains { $0.buffer == .payload },
                    inspectsApp: sections.contains { $0.buffer != .payload && $0.buffer != .base64Data })))
            } catch {
                problems.append(RuleProblem(file: rule.file, line: rule.line, sid: rule.sid,
                                            message: "pcre does not compile: \(error)", keyword: "pcre"))
            }
        }
        // Evaluation order: Suricata's action order, then bit setters before bit checkers.
        func rank(_ entry: (Rule, CompiledRule)) -> Int {
            let action: Int
            switch entry.0.action {
            case .pass: action = 0
            case .drop: action = 1
            case .reject: action = 2
            case .alert: action = 3
            }
            let bits = entry.1.bitChanges.isEmpty ? 2 : entry.1.bitTests.isEmpty ? 0 : 1
            return action * 4 + bits
        }
        let sorted = accepted.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
        rules = sorted.map(\.0)
        compiled = sorted.map(\.1)
        self.regexes = regexes
        self.problems = problems
        bitCount = bitIndex.count

        var groups: [GroupKey: [Pattern]] = [:]
        var unfiltered = Array(repeating: [Int32](), count: InspectionBuffer.allCases.count)
        var headerOnly: [Int32] = []
        for (index, compiledRule) in compiled.enumerated() {
            let id = Int32(index)
            guard !compiledRule.sections.isEmpty else {
                headerOnly.append(id)
                continue
            }
            // The rule's fast pattern: the content marked fast_pattern, else the longest
            // positive content. base64_data is not a buffer the prefilter sees.
            var best: (section: CompiledSection, content: CompiledContent, marked: Bool)?
            for section in compiledRule.sections where section.buffer != .base64Data {
                for case let .content(content) in section.items where !content.negated {
                    let marked = Self.isMarkedFastPattern(rules[index], section.buffer, content)
                    if best == nil || (marked && !best!.marked)
                        || (marked == best!.marked && content.bytes.count > best!.content.bytes.count) {
                        best = (section, content, marked)
                    }
                }
            }
            if let best {
                var pattern = Pattern.literal(best.content.bytes, caseless: best.content.nocase, id: UInt32(index))
                pattern.singleMatch = true
                groups[GroupKey(buffer: best.section.buffer, transforms: best.section.transforms), default: []].append(pattern)
            } else {
                let first = compiledRule.sections.first { $0.buffer != .base64Data }?.buffer ?? .payload
                unfiltered[Int(first.rawValue)].append(id)
            }
        }
        longestPayloadPattern = max(1, groups[GroupKey(buffer: .payload, transforms: [])]?.map(\.length).max() ?? 1)
        // Plain buffers first, so a packet's payload group is found at once.
        prefilters = try groups.sorted { ($0.key.transforms.count, $0.key.buffer.rawValue) < ($1.key.transforms.count, $1.key.buffer.rawValue) }
            .map { PrefilterGroup(buffer: $0.key.buffer, transforms: $0.key.transforms,
                                  database: try PatternDatabase($0.value, mode: .block)) }
        self.unfiltered = unfiltered
        self.headerOnly = headerOnly
        needs = DetectionNeeds(rules)
        headers = HeaderMatcher(rules)
        let ordered = rules
        headerOnlyIndex = AddressIndex(rules: headerOnly, source: { IntervalSet(ordered[Int($0)].source) },
                                       destination: { IntervalSet(ordered[Int($0)].destination) },
                                       bidirectional: { ordered[Int($0)].bidirectional })
    }

    static func isMarkedFastPattern(_ rule: Rule, _ buffer: InspectionBuffer, _ content: CompiledContent) -> Bool {
        for section in rule.sections where section.buffer == buffer {
            for case let .content(original) in section.matches where original.fastPattern {
                if (original.nocase ? original.bytes.map(asciiLowercase) : original.bytes) == content.bytes { return true }
            }
        }
        return false
    }
}

struct GroupKey: Hashable {
    var buffer: InspectionBuffer
    var transforms: [BufferTransform]
}

/// One prefilter: the fast patterns of the rules whose fast pattern lives in `buffer` after
/// `transforms`.
struct PrefilterGroup {
    var buffer: InspectionBuffer
    var transforms: [BufferTransform]
    var database: PatternDatabase
}

/// What a rule set needs the data path to deliver, derived once: the chain compiler
/// subscribes to no more than this.
public struct DetectionNeeds: Sendable, Equatable {
    /// IP protocols some rule can match (nil in the set: any).
    public var udp = false
    public var icmp = false
    public var otherIP = false
    /// TCP packets (header rules, packet payload rules) and streams by direction.
    public var tcpPackets = false
    public var streamToServer = false
    public var streamToClient = false
    /// Application protocols whose parsers some rule reads.
    public var appProtocols: Set<AppLayerProtocol> = []
    /// Application-layer buffers some rule reads.
    public var buffers = BufferMask()
    /// Protocols whose parsers must run: those with a buffer some rule reads.
    public var parsedProtocols: Set<AppLayerProtocol> = []

    /// What an NF that reads the application layer itself needs (not its rules): the
    /// protocols detected, those parsed with the buffers it reads, and which streams.
    public init(detecting: Set<AppLayerProtocol>, parsing: Set<AppLayerProtocol>, buffers: [InspectionBuffer],
                toServer: Bool = true, toClient: Bool = false) {
        appProtocols = detecting
        parsedProtocols = parsing
        for buffer in buffers { self.buffers.insert(buffer) }
        streamToServer = toServer
        streamToClient = toClient
    }

    init(_ rules: [Rule]) {
        defer {
            // What EVE reports of an alert's transaction, whenever its protocol is parsed.
            if parsedProtocols.contains(.http) {
                for buffer in [InspectionBuffer.httpHostRaw, .httpURIRaw, .httpMethod, .httpUserAgent, .httpProtocol, .httpStatCode] {
                    buffers.insert(buffer)
                }
            }
            if parsedProtocols.contains(.tls) { buffers.insert(.tlsSNI) }
            if parsedProtocols.contains(.dns) { buffers.insert(.dnsQuery) }
        }
        for rule in rules {
            let proto = rule.ipProtocol
            if proto == nil || proto == IPProtocolNumber.udp { udp = true }
            if proto == nil || proto == IPProtocolNumber.icmp || proto == IPProtocolNumber.icmpv6 { icmp = true }
            if proto == nil { otherIP = true }
            guard proto == nil || proto == IPProtocolNumber.tcp else { continue }
            tcpPackets = true
            let usesStream = rule.usesAppBuffers || (!rule.payload.isEmpty && rule.streamMode != .packetOnly)
                || rule.appProtocol != nil
            if usesStream {
                if rule.flowDirection != .toClient || rule.bidirectional { streamToServer = true }
                if rule.flowDirection != .toServer || rule.bidirectional { streamToClient = true }
            }
            if let app = rule.appProtocol { appProtocols.insert(app) }
            for section in rule.sections {
                buffers.insert(section.buffer)
                if let app = section.buffer.appProtocol { parsedProtocols.insert(app) }
            }
            if rule.usesAppBuffers, !rule.payload.isEmpty {
                // A payload test in an application rule reads the message as sent.
                buffers.insert(.httpStart)
                buffers.insert(.httpHeaderRaw)
            }
            // Protocols are detected from either side, and responses pair with requests;
            // stream_size reads both offsets.
            if rule.appProtocol != nil || rule.conditions.contains(where: \.readsBothStreams) {
                streamToServer = true
                streamToClient = true
            }
        }
    }
}

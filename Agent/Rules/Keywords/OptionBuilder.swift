/// A problem with one option; the parser adds file, line and sid.
struct OptionError: Error {
    var text: String
    var keyword: String?
    init(_ text: String, keyword: String? = nil) {
        self.text = text
        self.keyword = keyword
    }
}

/// Builds a rule option by option: hands each option to its keyword (`RuleKeywords`) and
/// tracks what later keywords apply to — the sticky buffer in force and the last content.
struct OptionBuilder {
    var rule: Rule
    let parser: RuleParser
    /// Index in `rule.sections` of the buffer later payload keywords go to.
    var current: Int?
    /// The last content: section and position in it.
    var lastContent: (section: Int, index: Int)?
    /// `byte_extract` names defined so far.
    var variables: [String] = []
    /// The keyword that set each buffer's size test (`bsize`, `urilen`).
    var sizeKeywords: [InspectionBuffer: String] = [:]

    init(rule: Rule, parser: RuleParser) {
        self.rule = rule
        self.parser = parser
    }

    mutating func apply(_ key: String, _ value: String) throws {
        guard let keyword = RuleKeywords.byName[key] else { throw OptionError("unsupported keyword '\(key)'") }
        try keyword.apply(&self, key, value)
    }

    /// The section for `buffer`, made when first named.
    mutating func section(for buffer: InspectionBuffer) -> Int {
        if let index = rule.sections.firstIndex(where: { $0.buffer == buffer }) { return index }
        rule.sections.append(BufferSection(buffer: buffer))
        return rule.sections.count - 1
    }

    /// Appends a payload test to the buffer in force (the payload when none is).
    mutating func append(_ match: PayloadMatch) -> (Int, Int) {
        let index = current ?? section(for: .payload)
        current = index
        rule.sections[index].matches.append(match)
        return (index, rule.sections[index].matches.count - 1)
    }

    /// The sticky buffer in force, for keywords that only qualify one (`bsize`, transforms).
    func stickyBuffer(for keyword: String) throws -> Int {
        guard let index = current, rule.sections[index].buffer != .payload else {
            throw OptionError("\(keyword) must follow a sticky buffer")
        }
        return index
    }

    /// Splits `a, b ,c` into trimmed parts.
    static func parts(_ value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmingCharacters(in: " \t") }
    }

    /// A leading `!` (`content:!"x"`, `pcre:!"/x/"`): whether it is there, and the rest.
    static func negation(_ value: String) -> (Bool, String) {
        guard value.hasPrefix("!") else { return (false, value) }
        return (true, String(value.dropFirst()).trimmingCharacters(in: " "))
    }

    /// A decimal or `0x` hexadecimal number.
    static func integer(_ text: String) -> UInt64? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt64(text.dropFirst(2), radix: 16) }
        return UInt64(text)
    }

    /// Checks what needs the whole rule.
    mutating func finish() throws -> Rule {
        for section in rule.sections {
            try BSizeKeyword.validate(section, keyword: sizeKeywords[section.buffer] ?? "bsize")
            if section.buffer.isLowercased {
                for case let .content(content) in section.matches where !content.nocase {
                    if content.bytes.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) {
                        throw OptionError("\(section.buffer) is lowercase: a content with capitals never matches",
                                          keyword: "content")
                    }
                }
            }
            if section.buffer == .ja3Hash || section.buffer == .ja3sHash {
                for case let .content(content) in section.matches where !content.negated && section.transforms.isEmpty {
                    guard content.bytes.count == 32, content.bytes.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                        throw OptionError("a JA3 hash content is 32 lowercase hex digits", keyword: "content")
                    }
                }
            }
            if section.buffer == .base64Data, !rule.sections.contains(where: { $0.matches.contains {
                if case .base64Decode = $0 { true } else { false } } }) {
                throw OptionError("base64_data without base64_decode", keyword: "base64_data")
            }
        }
        // An application buffer binds the rule to that protocol (and its transport).
        for section in rule.sections {
            guard let needed = section.buffer.appProtocol else { continue }
            if let named = rule.appProtocol, named != needed {
                throw OptionError("a \(needed) buffer in a rule for \(named)", keyword: "protocol")
            }
            rule.appProtocol = needed
            if rule.ipProtocol == nil, !needed.runsOverUDP { rule.ipProtocol = 6 }
            if let ipProtocol = rule.ipProtocol, ipProtocol != 6, !(needed.runsOverUDP && ipProtocol == 17) {
                throw OptionError("a \(needed) buffer in a rule for IP protocol \(ipProtocol)", keyword: "protocol")
            }
        }
        if let direction = bufferDirection() {
            if rule.flowDirection == .any { rule.flowDirection = direction }
        }
        return rule
    }

    /// The direction the rule's buffers imply, when they agree on one.
    func bufferDirection() -> RuleFlowDirection? {
        let directions = rule.sections.compactMap { $0.buffer.direction }
        if directions.contains(.toClient) { return .toClient }
        return directions.first
    }
}

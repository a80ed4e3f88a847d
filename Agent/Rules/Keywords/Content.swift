/// `content:"GET |20|"` and its modifiers (`nocase`, `offset`, `depth`, `distance`,
/// `within`, `startswith`, `endswith`, `fast_pattern`). The search itself is the
/// detection engine's content inspection (the prefilter picks the fast pattern).
enum ContentKeyword {
    static let keyword = RuleKeyword("content") { builder, _, value in
        let (negated, text) = OptionBuilder.negation(value)
        guard text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 else {
            throw OptionError("content must be quoted")
        }
        let bytes = try builder.parser.contentBytes(builder.parser.unquote(text)) { OptionError($0) }
        guard !bytes.isEmpty else { throw OptionError("empty content") }
        guard bytes.count <= 8192 else { throw OptionError("content of \(bytes.count) bytes is over 8192") }
        var content = ContentMatch(bytes: bytes)
        content.negated = negated
        builder.lastContent = builder.append(.content(content))
    }

    static let modifiers = RuleKeyword(["nocase", "offset", "depth", "distance", "within", "startswith", "endswith",
                                        "fast_pattern"]) { builder, key, value in
        guard let (section, index) = builder.lastContent,
              case var .content(content) = builder.rule.sections[section].matches[index] else {
            throw OptionError("'\(key)' must follow a content")
        }
        let variables = builder.variables
        func number() throws -> Int? {
            if let number = Int(value) { return number }
            guard variables.contains(value) else { throw OptionError("\(key) '\(value)' is not a number or a byte_extract name") }
            content.variables[key] = value
            return nil
        }
        switch key {
        case "nocase": content.nocase = true
        case "startswith": content.startsWith = true
        case "endswith": content.endsWith = true
        case "fast_pattern":
            // `fast_pattern:only` and `fast_pattern:offset,length` still name this content.
            content.fastPattern = true
        case "offset":
            let offset = try number()
            if let offset, offset < 0 { throw OptionError("offset must not be negative") }
            content.offset = offset ?? 0
        case "depth":
            let depth = try number()
            if let depth, depth < content.bytes.count { throw OptionError("depth \(depth) is shorter than its content") }
            content.depth = depth ?? 0
        case "distance":
            content.distance = try number() ?? 0
        default:
            let within = try number()
            if let within, within < content.bytes.count { throw OptionError("within \(within) is shorter than its content") }
            content.within = within ?? 0
        }
        if content.isRelative, content.offset != nil || content.depth != nil {
            throw OptionError("a content cannot mix offset/depth with distance/within")
        }
        if content.startsWith, content.offset != nil || content.depth != nil || content.isRelative {
            throw OptionError("startswith cannot be mixed with offset, depth, distance or within")
        }
        builder.rule.sections[section].matches[index] = .content(content)
    }
}

/// One `content:` with its modifiers.
public struct ContentMatch: Sendable, Equatable {
    public var bytes: [UInt8]
    public var negated = false
    public var nocase = false
    public var offset: Int?
    public var depth: Int?
    public var distance: Int?
    public var within: Int?
    /// `startswith`: at the buffer's start. `endswith`: ending at the buffer's end.
    public var startsWith = false
    public var endsWith = false
    /// `fast_pattern`: this content is the rule's prefilter pattern.
    public var fastPattern = false
    /// Variables named by `offset`/`depth`/`distance`/`within` (`byte_extract` results).
    public var variables: [String: String] = [:]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// Positioned relative to the previous match (`distance`/`within`).
    public var isRelative: Bool { distance != nil || within != nil || variables["distance"] != nil || variables["within"] != nil }
}

/// `pcre:"/expression/flags"` — a regular expression, searched with PCRE2 by the
/// detection engine once the rule's contents hold. The HTTP flags (`U`, `H`, …) select a
/// buffer as a sticky buffer would.
enum PCREKeyword {
    /// pcre's buffer flags: the buffer each selects.
    static let buffers: [Character: InspectionBuffer] = [
        "U": .httpURI, "I": .httpURIRaw, "P": .httpRequestBody, "Q": .httpResponseBody, "H": .httpHeader,
        "D": .httpHeaderRaw, "M": .httpMethod, "C": .httpCookie, "S": .httpStatCode, "Y": .httpStatMessage,
        "V": .httpUserAgent, "W": .httpHost, "Z": .httpHostRaw,
    ]

    static let keyword = RuleKeyword("pcre") { builder, _, value in
        let (negated, given) = OptionBuilder.negation(value)
        var text = given
        text = builder.parser.unquote(text)
        guard text.hasPrefix("/"), let close = text.lastIndex(of: "/"), close != text.startIndex else {
            throw OptionError("pcre must be \"/expression/flags\"")
        }
        var match = PCREMatch(expression: String(text[text.index(after: text.startIndex)..<close]))
        match.negated = negated
        var buffer: InspectionBuffer?
        for flag in text[text.index(after: close)...] {
            switch flag {
            case "i": match.caseless = true
            case "s": match.dotAll = true
            case "m": match.multiline = true
            case "x": match.extended = true
            case "A": match.anchored = true
            case "E": match.dollarEndOnly = true
            case "G": match.ungreedy = true
            case "R": match.relative = true
            case "B", "O": break  // rawbytes; match-limit override
            default:
                guard let selected = buffers[flag] else { throw OptionError("pcre flag '\(flag)' is not supported") }
                buffer = selected
            }
        }
        if let buffer {
            if let index = builder.current, builder.rule.sections[index].buffer != .payload,
               builder.rule.sections[index].buffer != buffer {
                throw OptionError("pcre with a buffer flag while the sticky buffer \(builder.rule.sections[index].buffer) is set")
            }
            let saved = builder.current
            builder.current = builder.section(for: buffer)
            _ = builder.append(.pcre(match))
            builder.current = saved
        } else {
            _ = builder.append(.pcre(match))
        }
        builder.lastContent = nil
    }
}

/// One `pcre:`, with the relative (`R`) and the buffer modifiers already resolved.
public struct PCREMatch: Sendable, Equatable {
    public var expression: String
    public var negated = false
    public var caseless = false
    public var dotAll = false
    public var multiline = false
    public var extended = false
    /// `A`: anchored at the start; `E`: `$` only at the very end; `G`: ungreedy.
    public var anchored = false
    public var dollarEndOnly = false
    public var ungreedy = false
    /// `R`: searched from the end of the previous match.
    public var relative = false

    public init(expression: String) { self.expression = expression }
}

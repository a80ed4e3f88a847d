/// A problem with one option; the parser adds file, line and sid.
struct OptionError: Error {
    var text: String
    var keyword: String?
    init(_ text: String, keyword: String? = nil) {
        self.text = text
        self.keyword = keyword
    }
}

/// Builds a rule option by option: tracks the sticky buffer in force and the last
/// content, which the content modifiers apply to.
struct OptionBuilder {
    var rule: Rule
    let parser: RuleParser
    /// Index in `rule.sections` of the buffer later payload keywords go to.
    var current: Int?
    /// The last content: section and position in it.
    var lastContent: (section: Int, index: Int)?
    var variables: [String] = []

    init(rule: Rule, parser: RuleParser) {
        self.rule = rule
        self.parser = parser
    }

    mutating func apply(_ key: String, _ value: String) throws {
        if InspectionBuffer.legacyModifiers.contains(key), let buffer = InspectionBuffer.keywords[key] {
            try moveLastContent(to: buffer, keyword: key)
            return
        }
        if let buffer = InspectionBuffer.keywords[key] {
            guard value.isEmpty else { throw OptionError("'\(key)' takes no value") }
            current = section(for: buffer)
            lastContent = nil
            return
        }
        switch key {
        case "pkt_data":
            current = section(for: .payload)
            lastContent = nil
        case "content": try content(value)
        case "nocase", "offset", "depth", "distance", "within", "startswith", "endswith", "fast_pattern":
            try modifyContent(key, value)
        case "pcre": try pcre(value)
        case "isdataat": try isDataAt(value)
        case "byte_test": try byteTest(value)
        case "byte_jump": try byteJump(value)
        case "byte_extract": try byteExtract(value)
        case "base64_decode": try base64Decode(value)
        case "bsize":
            guard let index = current, rule.sections[index].buffer != .payload else {
                throw OptionError("'bsize' must follow a sticky buffer")
            }
            rule.sections[index].size = try Self.numberTest(value, keyword: key)
        case _ where BufferTransform(rawValue: key) != nil:
            guard let index = current, rule.sections[index].buffer != .payload else {
                throw OptionError("transform '\(key)' must follow a sticky buffer")
            }
            let transform = BufferTransform(rawValue: key)!
            guard [.dotPrefix, .stripWhitespace, .compressWhitespace, .toLowercase, .toUppercase, .urlDecode,
                   .toMD5, .toSHA1, .toSHA256, .headerLowercase].contains(transform) else {
                throw OptionError("transform '\(key)' is not supported")
            }
            guard rule.sections[index].matches.isEmpty else {
                throw OptionError("transform '\(key)' must come before the buffer's content")
            }
            rule.sections[index].transforms.append(transform)
        default:
            try applyOther(key, value)
        }
    }

    /// The section for `buffer`, made when first named.
    mutating func section(for buffer: InspectionBuffer) -> Int {
        if let index = rule.sections.firstIndex(where: { $0.buffer == buffer }) { return index }
        rule.sections.append(BufferSection(buffer: buffer))
        return rule.sections.count - 1
    }

    mutating func append(_ match: PayloadMatch) -> (Int, Int) {
        let index = current ?? section(for: .payload)
        current = index
        rule.sections[index].matches.append(match)
        return (index, rule.sections[index].matches.count - 1)
    }

    // MARK: - content

    mutating func content(_ value: String) throws {
        var text = value
        var negated = false
        if text.hasPrefix("!") {
            negated = true
            text = String(text.dropFirst()).trimmingCharacters(in: " ")
        }
        guard text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 else {
            throw OptionError("content must be quoted")
        }
        let bytes = try parser.contentBytes(parser.unquote(text)) { OptionError($0) }
        guard !bytes.isEmpty else { throw OptionError("empty content") }
        guard bytes.count <= 8192 else { throw OptionError("content of \(bytes.count) bytes is over 8192") }
        var content = ContentMatch(bytes: bytes)
        content.negated = negated
        lastContent = append(.content(content))
    }

    mutating func modifyContent(_ key: String, _ value: String) throws {
        guard let (section, index) = lastContent, case var .content(content) = rule.sections[section].matches[index] else {
            throw OptionError("'\(key)' must follow a content")
        }
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
        rule.sections[section].matches[index] = .content(content)
    }

    /// `content:"x"; http_uri;` — the content just before moves to the buffer.
    mutating func moveLastContent(to buffer: InspectionBuffer, keyword: String) throws {
        guard let (section, index) = lastContent, rule.sections[section].buffer == .payload,
              index == rule.sections[section].matches.count - 1 else {
            throw OptionError("'\(keyword)' must follow a content")
        }
        let match = rule.sections[section].matches.removeLast()
        if rule.sections[section].matches.isEmpty, rule.sections[section].size == nil {
            rule.sections.remove(at: section)
        }
        let target = self.section(for: buffer)
        rule.sections[target].matches.append(match)
        lastContent = (target, rule.sections[target].matches.count - 1)
        current = nil
    }

    // MARK: - pcre

    /// pcre's buffer flags: the buffer each selects.
    static let pcreBuffers: [Character: InspectionBuffer] = [
        "U": .httpURI, "I": .httpURIRaw, "P": .httpRequestBody, "Q": .httpResponseBody, "H": .httpHeader,
        "D": .httpHeaderRaw, "M": .httpMethod, "C": .httpCookie, "S": .httpStatCode, "Y": .httpStatMessage,
        "V": .httpUserAgent, "W": .httpHost, "Z": .httpHostRaw,
    ]

    mutating func pcre(_ value: String) throws {
        var text = value
        var negated = false
        if text.hasPrefix("!") {
            negated = true
            text = String(text.dropFirst()).trimmingCharacters(in: " ")
        }
        text = parser.unquote(text)
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
                guard let selected = Self.pcreBuffers[flag] else { throw OptionError("pcre flag '\(flag)' is not supported") }
                buffer = selected
            }
        }
        if let buffer {
            if let index = current, rule.sections[index].buffer != .payload, rule.sections[index].buffer != buffer {
                throw OptionError("pcre with a buffer flag while the sticky buffer \(rule.sections[index].buffer) is set")
            }
            let saved = current
            current = section(for: buffer)
            _ = append(.pcre(match))
            current = saved
        } else {
            _ = append(.pcre(match))
        }
        lastContent = nil
    }

    // MARK: - byte_*, isdataat, base64

    /// Splits `a, b ,c` into trimmed parts.
    static func parts(_ value: String) -> [String] {
        value.split(separator: ",").map { $0.trimmingCharacters(in: " \t") }
    }

    /// `nbytes` and the options `byte_test`/`byte_jump`/`byte_extract` share; returns the
    /// options it did not know.
    func byteRead(count text: String, offset: String, options: [String], keyword: String) throws -> (ByteRead, [String]) {
        guard let count = Int(text), count >= 0 else { throw OptionError("\(keyword): byte count '\(text)' is not a number") }
        var read: ByteRead
        if let number = Int(offset) {
            read = ByteRead(count: count, offset: number)
        } else if variables.contains(offset) {
            read = ByteRead(count: count, offset: 0)
            read.offsetVariable = offset
        } else {
            throw OptionError("\(keyword): offset '\(offset)' is not a number or a byte_extract name")
        }
        var rest: [String] = []
        var index = 0
        while index < options.count {
            let option = options[index]
            switch option {
            case "relative": read.relative = true
            case "big": read.littleEndian = false
            case "little": read.littleEndian = true
            case "dce": read.dce = true
            case "string": read.stringBase = 10
            case "hex": read.stringBase = 16
            case "dec": read.stringBase = 10
            case "oct": read.stringBase = 8
            default:
                if option.hasPrefix("bitmask") {
                    let text = option.dropFirst("bitmask".count).trimmingCharacters(in: " ")
                    let digits = text.hasPrefix("0x") ? String(text.dropFirst(2)) : text
                    guard let mask = UInt64(digits, radix: text.hasPrefix("0x") ? 16 : 10) else {
                        throw OptionError("\(keyword): bad bitmask '\(text)'")
                    }
                    read.bitmask = mask
                } else {
                    rest.append(option)
                }
            }
            index += 1
        }
        if read.stringBase != nil {
            // 0 bytes: the rest of the buffer (Suricata 7, for sticky buffers such as http.content_len).
            guard count <= 20 else { throw OptionError("\(keyword): a string number is at most 20 bytes") }
        } else {
            guard count >= 1, count <= 8 else {
                throw OptionError("\(keyword): byte count \(count) is not 1–8")
            }
        }
        return (read, rest)
    }

    mutating func byteTest(_ value: String) throws {
        let items = Self.parts(value)
        guard items.count >= 4 else { throw OptionError("byte_test needs bytes, operator, value, offset") }
        var op = items[1]
        var negated = false
        if op.hasPrefix("!") {
            negated = true
            op.removeFirst()
            if op.isEmpty { op = "=" }
        }
        guard let comparison = NumberOperator(rawValue: op) else { throw OptionError("byte_test: unknown operator '\(items[1])'") }
        let (read, rest) = try byteRead(count: items[0], offset: items[3], options: Array(items.dropFirst(4)), keyword: "byte_test")
        guard rest.isEmpty else { throw OptionError("byte_test: unknown option '\(rest[0])'") }
        var test = ByteTest(read: read, negated: negated, op: comparison, value: 0)
        if let number = Self.integer(items[2]) {
            test.value = number
        } else if variables.contains(items[2]) {
            test.valueVariable = items[2]
        } else {
            throw OptionError("byte_test: value '\(items[2])' is not a number or a byte_extract name")
        }
        _ = append(.byteTest(test))
    }

    mutating func byteJump(_ value: String) throws {
        let items = Self.parts(value)
        guard items.count >= 2 else { throw OptionError("byte_jump needs bytes and offset") }
        let (read, rest) = try byteRead(count: items[0], offset: items[1], options: Array(items.dropFirst(2)), keyword: "byte_jump")
        var jump = ByteJump(read: read)
        for option in rest {
            let words = option.split(separator: " ").map(String.init)
            switch words.first ?? "" {
            case "align": jump.align = true
            case "from_beginning": jump.fromBeginning = true
            case "from_end": jump.fromEnd = true
            case "multiplier" where words.count == 2 && UInt64(words[1]) != nil: jump.multiplier = UInt64(words[1])!
            case "post_offset" where words.count == 2 && Int(words[1]) != nil: jump.postOffset = Int(words[1])!
            default: throw OptionError("byte_jump: unknown option '\(option)'")
            }
        }
        _ = append(.byteJump(jump))
    }

    mutating func byteExtract(_ value: String) throws {
        let items = Self.parts(value)
        guard items.count >= 3 else { throw OptionError("byte_extract needs bytes, offset and a name") }
        let (read, rest) = try byteRead(count: items[0], offset: items[1], options: Array(items.dropFirst(3)),
                                        keyword: "byte_extract")
        let name = items[2]
        guard name.first?.isLetter == true || name.first == "_" else { throw OptionError("byte_extract: bad name '\(name)'") }
        var extract = ByteExtract(read: read, name: name, slot: variables.count)
        for option in rest {
            let words = option.split(separator: " ").map(String.init)
            switch words.first ?? "" {
            case "multiplier" where words.count == 2 && UInt64(words[1]) != nil: extract.multiplier = UInt64(words[1])!
            case "align" where words.count == 2 && Int(words[1]) != nil: extract.align = Int(words[1])!
            default: throw OptionError("byte_extract: unknown option '\(option)'")
            }
        }
        variables.append(name)
        _ = append(.byteExtract(extract))
    }

    mutating func isDataAt(_ value: String) throws {
        let items = Self.parts(value)
        guard var first = items.first else { throw OptionError("isdataat needs a position") }
        var test = IsDataAt(position: 0)
        if first.hasPrefix("!") {
            test.negated = true
            first.removeFirst()
        }
        if let position = Int(first) {
            test.position = position
        } else if variables.contains(first) {
            test.variable = first
        } else {
            throw OptionError("isdataat: '\(first)' is not a number")
        }
        for option in items.dropFirst() {
            switch option {
            case "relative": test.relative = true
            case "rawbytes": break
            default: throw OptionError("isdataat: unknown option '\(option)'")
            }
        }
        _ = append(.isDataAt(test))
    }

    mutating func base64Decode(_ value: String) throws {
        var decode = Base64Decode()
        for option in Self.parts(value) where !option.isEmpty {
            let words = option.split(separator: " ").map(String.init)
            switch words.first ?? "" {
            case "relative": decode.relative = true
            case "bytes" where words.count == 2 && Int(words[1]) != nil: decode.bytes = Int(words[1])!
            case "offset" where words.count == 2 && Int(words[1]) != nil: decode.offset = Int(words[1])!
            default: throw OptionError("base64_decode: unknown option '\(option)'")
            }
        }
        _ = append(.base64Decode(decode))
    }

    /// A decimal or `0x` hexadecimal number.
    static func integer(_ text: String) -> UInt64? {
        if text.hasPrefix("0x") || text.hasPrefix("0X") { return UInt64(text.dropFirst(2), radix: 16) }
        return UInt64(text)
    }

    /// `N`, `<N`, `>N`, `<=N`, `>=N`, `!N`, `=N`, `N<>M`, `N-M`.
    static func numberTest(_ value: String, keyword: String) throws -> NumberTest {
        let text = value.trimmingCharacters(in: " ")
        for separator in ["<>", "-"] {
            if let range = text.range(of: separator), range.lowerBound != text.startIndex {
                guard let low = UInt64(text[..<range.lowerBound].trimmingCharacters(in: " ")),
                      let high = UInt64(text[range.upperBound...].trimmingCharacters(in: " ")), low < high else {
                    throw OptionError("\(keyword): bad range '\(text)'")
                }
                return NumberTest(.range(low, high))
            }
        }
        for (prefix, op) in [("<=", NumberOperator.lessOrEqual), (">=", .greaterOrEqual), ("!=", .notEqual),
                             ("<", .less), (">", .greater), ("!", .notEqual), ("=", .equal)] where text.hasPrefix(prefix) {
            guard let number = UInt64(text.dropFirst(prefix.count).trimmingCharacters(in: " ")) else {
                throw OptionError("\(keyword): '\(text)' is not a number")
            }
            return NumberTest(.compare(op, number))
        }
        guard let number = UInt64(text) else { throw OptionError("\(keyword): '\(text)' is not a number") }
        return NumberTest(.compare(.equal, number))
    }
}

extension String {
    /// The first range of `needle`, without Foundation.
    func range(of needle: String) -> Range<String.Index>? {
        guard !needle.isEmpty else { return nil }
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(needle) { return index..<self.index(index, offsetBy: needle.count) }
            index = self.index(after: index)
        }
        return nil
    }
}

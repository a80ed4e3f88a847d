/// `bsize:10<>20` — a sticky buffer's length.
enum BSizeKeyword {
    static let keyword = RuleKeyword("bsize") { builder, name, value in
        let index = try builder.stickyBuffer(for: "'\(name)'")
        try builder.limitSize(of: index, to: NumberTest(parsing: value, keyword: name), keyword: name)
    }

    /// Suricata refuses a size limit the buffer's contents cannot fit in.
    static func validate(_ section: BufferSection, keyword: String) throws {
        guard let size = section.size else { return }
        var needed = 0
        for case let .content(content) in section.matches where !content.negated {
            needed = content.isRelative ? needed + (content.distance ?? 0) + content.bytes.count
                : max(needed, (content.offset ?? 0) + content.bytes.count)
        }
        let maximum = size.maximum
        if UInt64(needed) > maximum {
            throw OptionError("content length \(needed) exceeds \(keyword) \(maximum): the rule cannot match", keyword: keyword)
        }
    }
}

/// `urilen:>5[,raw|norm]` — the length of the normalised (or raw) request URI: the size
/// test of that buffer, checked wherever the buffer is inspected (as Suricata's content
/// inspection checks it).
enum URILenKeyword {
    static let keyword = RuleKeyword("urilen") { builder, name, value in
        let items = OptionBuilder.parts(value)
        guard items.count <= 2 else { throw OptionError("urilen is 'N[,raw|norm]'") }
        if items.count == 2, !["raw", "norm"].contains(items[1]) { throw OptionError("urilen: '\(items[1])' is not raw or norm") }
        let test = try NumberTest(parsing: items.first ?? "", keyword: name)
        let index = builder.section(for: items.count == 2 && items[1] == "raw" ? .httpURIRaw : .httpURI)
        try builder.limitSize(of: index, to: test, keyword: name)
    }
}

extension OptionBuilder {
    /// Sets a section's size test (`bsize`, `urilen`). A buffer holds one; the same test
    /// twice (`urilen:8; … http.uri; bsize:8`, as ET rules write it) is that one.
    mutating func limitSize(of index: Int, to test: NumberTest, keyword: String) throws {
        let buffer = rule.sections[index].buffer
        if let earlier = sizeKeywords[buffer] {
            if rule.sections[index].size == test { return }
            throw OptionError("\(keyword) after \(earlier) on \(buffer) with another size: one size test per buffer is supported")
        }
        rule.sections[index].size = test
        sizeKeywords[buffer] = keyword
    }
}

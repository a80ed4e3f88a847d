/// The sticky buffers (`http.uri; content:…`) and, for the legacy names, the content
/// modifiers (`content:"x"; http_uri;`), which move the content just before into the
/// buffer. The names and their buffers are `InspectionBuffer.keywords`.
enum StickyBufferKeywords {
    static let keyword = RuleKeyword(Array(InspectionBuffer.keywords.keys)) { builder, name, value in
        let buffer = InspectionBuffer.keywords[name]!
        if InspectionBuffer.legacyModifiers.contains(name) {
            try builder.moveLastContent(to: buffer, keyword: name)
            return
        }
        guard value.isEmpty else { throw OptionError("'\(name)' takes no value") }
        builder.current = builder.section(for: buffer)
        builder.lastContent = nil
    }

    /// `pkt_data`: back to the packet or stream payload.
    static let packetData = RuleKeyword("pkt_data") { builder, _, _ in
        builder.current = builder.section(for: .payload)
        builder.lastContent = nil
    }
}

extension OptionBuilder {
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
}

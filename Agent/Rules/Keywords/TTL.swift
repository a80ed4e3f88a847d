/// `ttl:<5` — the packet's IPv4 time to live (IPv6: hop limit).
enum TTLKeyword {
    static let keyword = RuleKeyword("ttl") { builder, name, value in
        builder.rule.conditions.append(.ttl(try NumberTest(parsing: value, keyword: name)))
    }

    @inline(__always)
    static func holds(_ test: NumberTest, _ facts: PacketFacts) -> Bool {
        facts.hasPacket && test.holds(UInt64(facts.ttl))
    }
}

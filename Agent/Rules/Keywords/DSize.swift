/// `dsize:>100` — the packet's payload length (a packet's, never a stream chunk's).
enum DSizeKeyword {
    static let keyword = RuleKeyword("dsize") { builder, name, value in
        builder.rule.conditions.append(.payloadSize(try NumberTest(parsing: value, keyword: name)))
    }

    @inline(__always)
    static func holds(_ test: NumberTest, _ facts: PacketFacts) -> Bool {
        facts.hasPacket && test.holds(UInt64(facts.payloadLength))
    }
}

import MBoxPacket

/// `itype:8`, `icode:>0` — an ICMP or ICMPv6 packet's type and code.
enum ICMPKeywords {
    static let itype = RuleKeyword("itype") { builder, name, value in
        builder.rule.conditions.append(.icmpType(try NumberTest(parsing: value, keyword: name)))
    }
    static let icode = RuleKeyword("icode") { builder, name, value in
        builder.rule.conditions.append(.icmpCode(try NumberTest(parsing: value, keyword: name)))
    }

    @inline(__always)
    static func typeHolds(_ test: NumberTest, _ facts: PacketFacts) -> Bool {
        isICMP(facts) && test.holds(UInt64(facts.icmpType))
    }

    @inline(__always)
    static func codeHolds(_ test: NumberTest, _ facts: PacketFacts) -> Bool {
        isICMP(facts) && test.holds(UInt64(facts.icmpCode))
    }

    @inline(__always)
    private static func isICMP(_ facts: PacketFacts) -> Bool {
        facts.hasPacket && (facts.ipProtocol == IPProtocolNumber.icmp || facts.ipProtocol == IPProtocolNumber.icmpv6)
    }
}

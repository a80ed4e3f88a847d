import MBoxPacket

/// `stream_size:server|client|both|either,op,N` — the bytes a TCP flow's ends have sent.
enum StreamSizeKeyword {
    static let keyword = RuleKeyword("stream_size") { builder, _, value in
        let items = OptionBuilder.parts(value)
        guard items.count == 3, let side = StreamSizeTest.Side(rawValue: items[0]),
              let op = NumberOperator(rawValue: items[1]), let number = UInt64(items[2]) else {
            throw OptionError("stream_size is 'server|client|both|either, operator, bytes'")
        }
        builder.rule.conditions.append(.streamSize(StreamSizeTest(side: side, op: op, value: number)))
    }

    static func holds(_ size: StreamSizeTest, _ facts: PacketFacts) -> Bool {
        guard facts.ipProtocol == IPProtocolNumber.tcp else { return false }
        let test = NumberTest(.compare(size.op, size.value))
        // Suricata counts sequence space: the bytes plus the SYN.
        let client = facts.clientBytes + 1, server = facts.serverBytes + 1
        switch size.side {
        case .client: return test.holds(client)
        case .server: return test.holds(server)
        case .both: return test.holds(client) && test.holds(server)
        case .either: return test.holds(client) || test.holds(server)
        }
    }
}

/// The side(s) `stream_size` reads and its comparison.
public struct StreamSizeTest: Sendable, Equatable {
    public enum Side: String, Sendable { case server, client, both, either }
    public var side: Side
    public var op: NumberOperator
    public var value: UInt64

    public init(side: Side, op: NumberOperator, value: UInt64) {
        self.side = side
        self.op = op
        self.value = value
    }
}

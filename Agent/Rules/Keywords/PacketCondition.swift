/// A test a rule makes of the packet or its flow's counters rather than of a buffer's
/// bytes (`dsize`, `ttl`, `itype`, `icode`, `flags`, `stream_size`). One case per keyword;
/// the keyword's file parses it and holds its test. A value type with no references, so
/// the detector keeps every rule's conditions in one flat array.
public enum PacketCondition: Sendable, Equatable {
    case payloadSize(NumberTest)
    case ttl(NumberTest)
    case icmpType(NumberTest)
    case icmpCode(NumberTest)
    case tcpFlags(FlagTest)
    case streamSize(StreamSizeTest)

    /// Whether the packet (or chunk, or transaction) described by `facts` passes.
    @inline(__always)
    public func holds(_ facts: PacketFacts) -> Bool {
        switch self {
        case let .payloadSize(test): DSizeKeyword.holds(test, facts)
        case let .ttl(test): TTLKeyword.holds(test, facts)
        case let .icmpType(test): ICMPKeywords.typeHolds(test, facts)
        case let .icmpCode(test): ICMPKeywords.codeHolds(test, facts)
        case let .tcpFlags(test): TCPFlagsKeyword.holds(test, facts)
        case let .streamSize(test): StreamSizeKeyword.holds(test, facts)
        }
    }

    /// Whether the test reads the byte counts of both directions (both streams are then
    /// tracked for the rule).
    public var readsBothStreams: Bool {
        if case .streamSize = self { true } else { false }
    }
}

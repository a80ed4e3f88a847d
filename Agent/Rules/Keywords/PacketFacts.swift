import MBoxPacket

/// What detection knows of the packet (or stream chunk, or transaction) being inspected:
/// what `PacketCondition`s, the flow keyword and the rule header are tested against.
public struct PacketFacts {
    public var ipProtocol: UInt8 = 0
    public var source = IPAddress(high: 0, low: 0)
    public var sourcePort: UInt16 = 0
    public var destination = IPAddress(high: 0, low: 0)
    public var destinationPort: UInt16 = 0
    public var toServer = true
    public var established = false
    /// The packet's TCP flags and payload length, when there is a packet.
    public var hasPacket = true
    public var tcpFlags: UInt8 = 0
    public var payloadLength = 0
    public var icmpType: UInt8 = 0
    public var icmpCode: UInt8 = 0
    public var ttl: UInt8 = 0
    /// Stream bytes sent so far by the client and by the server (`stream_size`).
    public var clientBytes: UInt64 = 0
    public var serverBytes: UInt64 = 0
    public var appProtocol: AppLayerProtocol?
    /// Capture time, nanoseconds (thresholds and xbit expiry).
    public var timestamp: UInt64 = 0

    public init() {}
}

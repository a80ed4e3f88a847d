import MBoxCapture
import MBoxFlow
import MBoxPacket

extension TCPSplitProxy: MicroStack {
    public static var kind: StackKind { .tcpSplitProxy }

    /// A segment of either leg, timed by its capture time (the endpoints' clocks).
    @inline(__always)
    public func process(slot: Int32, headers: PacketHeaders, packet: CapturedPacket, fromClient: Bool) -> Int32? {
        process(slot: slot, headers: headers, packet: packet, now: packet.timestamp)
    }
}

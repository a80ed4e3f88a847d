import MBoxCapture
import MBoxFlow
import MBoxPacket

extension TCPMonitor: MicroStack {
    public static var kind: StackKind { .tcpMonitor }

    @inline(__always)
    public func process(slot: Int32, headers: PacketHeaders, packet: CapturedPacket, fromClient: Bool) -> TCPPacketResult {
        process(slot: slot, headers: headers, packet: packet.data, fromClient: fromClient)
    }

    /// Ends the flow's streams (buffered bytes come out as chunks, holes as gaps).
    public func close(slot: Int32) { finish(slot: slot) }
}

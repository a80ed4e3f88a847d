import MBoxCapture
import MBoxDPDK

/// A DPDK port is the model the protocol was drawn from: its own methods fulfil it.
extension DPDKPort: PacketPort {
    public static var stampsArrival: Bool { true }
    public var isExhausted: Bool { false }
    public var clock: UInt64 { wallClock() }
}

import MBoxTCPSplicer
import MBoxTCPSplitProxy

/// What the NFs decided about the packet just processed that its μStack carries out: one
/// value the chain fills (resetting it first) and the data path applies after the NFs
/// (`DataPath.apply`), so nothing after the chain reaches into a stack.
public struct StackDecision {
    /// Answer the packet's sender as a `reject` rule does (a RST, or ICMP unreachable).
    public var reject = false
    /// The backend an NF picked for the Splicer's held request (`FLOW_REQ`); the first
    /// choice stands.
    public var backend: BackendChoice?
    /// An NF's own answer to that request (the TCP Endpoint); takes precedence over a backend.
    public var response: StackResponse?
    /// What NFs did to the Split Proxy's byte-stream chunks of this packet.
    public var streamEdits = StreamEdits()

    public init() {}

    /// Forgets the last packet's decision (the edits' storage is kept).
    @inline(__always)
    public mutating func reset() {
        reject = false
        backend = nil
        response = nil
        if !streamEdits.isEmpty { streamEdits.removeAll() }
    }
}

/// An NF's own answer to a request (`NFContext.respond`).
public struct StackResponse: Sendable {
    public var slot: Int32
    public var flowID: UInt64
    public var bytes: [UInt8]
    public var close: Bool

    public init(slot: Int32, flowID: UInt64, bytes: [UInt8], close: Bool) {
        self.slot = slot
        self.flowID = flowID
        self.bytes = bytes
        self.close = close
    }
}

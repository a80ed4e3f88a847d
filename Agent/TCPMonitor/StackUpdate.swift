/// One packet's effect on one endpoint's stack. Every TCP packet produces two: the
/// sender's stack (updated by what it sent) and the receiver's stack (updated by what
/// reached it). Events select on `side` and `cause` — the seed's configurations 1–3.
public struct StackUpdate: Sendable {
    /// Whose stack changed.
    public var side: FlowSide
    /// Whose packet changed it.
    public var cause: FlowSide
    public var before: TCPState
    public var after: TCPState

    @inlinable public var stateChanged: Bool { before != after }
}

/// Things the monitor noticed that an IDS may want to count or alert on.
public struct TCPAnomalies: OptionSet, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// A RST outside the receiver's window: ignored, as the receiver would.
    public static let invalidReset = TCPAnomalies(rawValue: 1 << 0)
    /// Data beyond the receiver's advertised window.
    public static let outOfWindow = TCPAnomalies(rawValue: 1 << 1)
    /// A SYN with a different ISN on an open flow.
    public static let synMismatch = TCPAnomalies(rawValue: 1 << 2)
    /// Data carried by a packet after its sender's FIN.
    public static let dataAfterFIN = TCPAnomalies(rawValue: 1 << 3)
    /// A segment overlapped held bytes with different ones (resolved by the overlap policy).
    public static let overlapDifferentData = TCPAnomalies(rawValue: 1 << 4)
    /// Out-of-order bytes refused at a reassembly limit (they become a gap).
    public static let reassemblyLimit = TCPAnomalies(rawValue: 1 << 5)
}

/// What the monitor made of one packet.
public struct TCPPacketResult: Sendable {
    public var sender: StackUpdate
    public var receiver: StackUpdate
    public var anomalies: TCPAnomalies
    /// This packet completed the flow's close (both ends finished, or a valid RST).
    public var closedFlow: Bool
}

/// Counters of one port (a DPDK device, a capture file, a port in memory): what it
/// received and sent, and what it lost.
public struct PortCounters: Sendable {
    public var rxPackets: UInt64 = 0
    public var txPackets: UInt64 = 0
    public var rxBytes: UInt64 = 0
    public var txBytes: UInt64 = 0
    public var rxMissed: UInt64 = 0
    public var rxErrors: UInt64 = 0
    public var txErrors: UInt64 = 0
    public var rxNoMbuf: UInt64 = 0
    /// Packets the agent dropped by verdict, and those the device would not take.
    public var droppedByVerdict: UInt64 = 0
    public var txRefused: UInt64 = 0
    /// Packets that arrived in several segments (jumbo or coalesced frames), copied whole
    /// for the stages above.
    public var rxMultiSegment: UInt64 = 0

    public init(rxPackets: UInt64 = 0, txPackets: UInt64 = 0, rxBytes: UInt64 = 0, txBytes: UInt64 = 0, rxMissed: UInt64 = 0,
                rxErrors: UInt64 = 0, txErrors: UInt64 = 0, rxNoMbuf: UInt64 = 0, droppedByVerdict: UInt64 = 0, txRefused: UInt64 = 0,
                rxMultiSegment: UInt64 = 0) {
        self.rxPackets = rxPackets
        self.txPackets = txPackets
        self.rxBytes = rxBytes
        self.txBytes = txBytes
        self.rxMissed = rxMissed
        self.rxErrors = rxErrors
        self.txErrors = txErrors
        self.rxNoMbuf = rxNoMbuf
        self.droppedByVerdict = droppedByVerdict
        self.txRefused = txRefused
        self.rxMultiSegment = rxMultiSegment
    }
}


import MBoxCapture

/// Where packets enter and leave the agent: a DPDK ethdev, a capture file, or memory.
///
/// Bursts, as DPDK's ethdev has them: `receive()` fills the port's burst, the stages give
/// each packet a verdict (`drop`, `consume`, or nothing: it goes on), and `endBurst`
/// forwards what goes on out of the peer port — or releases it when there is none (a
/// passive tap). Frames the stages emit leave through `transmit(copying:)`. Packet views
/// stay valid until the next `receive()`.
///
/// One loop (`PortLoop`) drives any port; the protocol is a generic constraint there, never
/// an existential, so each port's calls are direct.
public protocol PacketPort: AnyObject {
    /// The port's name in reports ("net_pcap0", a file's path, "memory0").
    var name: String { get }
    /// The number frames name the port by in an `Egress.port` (a DPDK port id).
    var id: UInt16 { get }

    /// Receives the next burst (at most `burstSize`); returns how many packets it holds.
    func receive() -> Int
    /// Whether `packet(_:timestamp:)` uses the arrival time it is given (live ports); a
    /// capture file keeps the times it recorded, so the loop reads no clock for it.
    static var stampsArrival: Bool { get }
    /// Packet `index` of the burst. Live ports stamp it `timestamp` (the burst's arrival,
    /// wall clock); a capture file keeps the time it recorded.
    func packet(_ index: Int, timestamp: UInt64) -> CapturedPacket
    /// A verdict dropped packet `index`: it is not forwarded (and counted).
    func drop(_ index: Int)
    /// A stage took packet `index` (answered or held it): released now, not counted as dropped.
    func consume(_ index: Int)
    /// Ends the burst: packets neither dropped nor consumed leave by `peer` (none: released).
    func endBurst(forwardingTo peer: Self?)

    /// Queues a copy of `frame` to send; false (counted as refused) when it cannot be sent.
    @discardableResult
    func transmit(copying frame: UnsafeRawBufferPointer) -> Bool
    /// Sends what is queued.
    func flush()

    /// What the port counted so far.
    var counters: PortCounters { get }
    /// The counters with the device's own (what it missed, its errors), for reports.
    func readCounters() -> PortCounters
    /// A finite source that has delivered everything (a capture file at its end). Live ports never are.
    var isExhausted: Bool { get }
    /// The port's clock in nanoseconds since the epoch, for the stacks' timers: wall
    /// clock for live ports, the last packet's time for a capture file, the test's for memory.
    var clock: UInt64 { get }
}

extension PacketPort {
    public func readCounters() -> PortCounters { counters }

    /// One line of the run's report for this port.
    public var reportLine: String {
        let c = readCounters()
        return "port         \(name): rx \(c.rxPackets), tx \(c.txPackets), dropped by verdict \(c.droppedByVerdict), "
            + "tx refused \(c.txRefused), missed \(c.rxMissed), rx errors \(c.rxErrors), no mbuf \(c.rxNoMbuf)"
            + (c.rxMultiSegment > 0 ? ", multi-segment \(c.rxMultiSegment)" : "") + "\n"
    }
}

/// Wall-clock nanoseconds since the epoch: live packets are stamped with it once per burst,
/// since alerts and EVE lines carry it.
public func wallClock() -> UInt64 {
    var clock = timespec()
    clock_gettime(CLOCK_REALTIME, &clock)
    return UInt64(clock.tv_sec) * 1_000_000_000 + UInt64(clock.tv_nsec)
}

#if canImport(Glibc)
import Glibc
#endif

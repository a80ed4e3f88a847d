import Atomics
import MBoxPacket

/// Counters the data path publishes (relaxed atomic stores, once per burst) for the
/// control session to report, and what the agent's ports lost before it read them.
public final class AgentCounters: Sendable {
    /// What the devices dropped before the agent read it: missed packets, failed receives
    /// for want of an mbuf (read when a report is made, from the reporting thread).
    /// One data path's latest totals (each written by its own worker only). Unsafe atomics,
    /// destroyed with the object: a managed atomic is retained and released on every use.
    private final class Totals: Sendable {
        let packets = UnsafeAtomic<UInt64>.create(0)
        let bytes = UnsafeAtomic<UInt64>.create(0)
        let flows = UnsafeAtomic<UInt64>.create(0)
        let alerts = UnsafeAtomic<UInt64>.create(0)
        let dropped = UnsafeAtomic<UInt64>.create(0)
        let malformed = UnsafeAtomic<UInt64>.create(0)
        /// By `MalformedReason.rawValue`.
        let malformedByReason = MalformedReason.allCases.map { _ in UnsafeAtomic<UInt64>.create(0) }

        deinit {
            for counter in [packets, bytes, flows, alerts, dropped, malformed] + malformedByReason { counter.destroy() }
        }
    }
    private let workers: [Totals]
    private let devices: (@Sendable () -> (missed: UInt64, noMbuf: UInt64))?

    /// Counters of `workers` data paths, reported as their sum; `devices` reads the
    /// agent's ports' losses (none without).
    public init(workers: Int = 1, devices: (@Sendable () -> (missed: UInt64, noMbuf: UInt64))? = nil) {
        self.workers = (0..<max(1, workers)).map { _ in Totals() }
        self.devices = devices
    }

    /// Worker `worker`'s totals so far.
    public func publish(worker: Int = 0, packets: UInt64, bytes: UInt64, flows: UInt64, alerts: UInt64, dropped: UInt64,
                        malformed: UInt64) {
        let totals = workers[worker]
        totals.packets.store(packets, ordering: .relaxed)
        totals.bytes.store(bytes, ordering: .relaxed)
        totals.flows.store(flows, ordering: .relaxed)
        totals.alerts.store(alerts, ordering: .relaxed)
        totals.dropped.store(dropped, ordering: .relaxed)
        totals.malformed.store(malformed, ordering: .relaxed)
    }

    /// Worker `worker`'s malformed packets by reason so far.
    public func publish(worker: Int = 0, malformed: MalformedCounters) {
        for (counter, count) in zip(workers[worker].malformedByReason, malformed.counts) { counter.store(count, ordering: .relaxed) }
    }

    /// One worker's malformed packets by reason.
    public func malformed(worker: Int) -> [(reason: MalformedReason, count: UInt64)] {
        MalformedReason.allCases.map { ($0, workers[worker].malformedByReason[$0.rawValue].load(ordering: .relaxed)) }
    }

    /// How many workers publish here.
    public var workerCount: Int { workers.count }

    /// What a report carries: totals of one worker or of all, and the ports' losses.
    public struct Snapshot: Equatable, Sendable {
        public var packets: UInt64 = 0
        public var bytes: UInt64 = 0
        public var flows: UInt64 = 0
        public var alerts: UInt64 = 0
        public var dropped: UInt64 = 0
        public var malformed: UInt64 = 0
        public var portMissed: UInt64 = 0
        public var portNoMbuf: UInt64 = 0
    }

    /// One worker's totals.
    public func snapshot(worker: Int) -> Snapshot {
        var stats = Snapshot()
        Self.add(workers[worker], to: &stats)
        return stats
    }

    /// The agent's totals: every worker's, summed, and its ports' losses.
    public func snapshot() -> Snapshot {
        var stats = Snapshot()
        for totals in workers { Self.add(totals, to: &stats) }
        if let (missed, noMbuf) = devices?() {
            stats.portMissed = missed
            stats.portNoMbuf = noMbuf
        }
        return stats
    }

    private static func add(_ totals: Totals, to stats: inout Snapshot) {
        stats.packets += totals.packets.load(ordering: .relaxed)
        stats.bytes += totals.bytes.load(ordering: .relaxed)
        stats.flows += totals.flows.load(ordering: .relaxed)
        stats.alerts += totals.alerts.load(ordering: .relaxed)
        stats.dropped += totals.dropped.load(ordering: .relaxed)
        stats.malformed += totals.malformed.load(ordering: .relaxed)
    }
}

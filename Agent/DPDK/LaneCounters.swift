import MBoxCapture
import Atomics

/// What the agent counted itself on one queue pair of a port: written, once per burst, by
/// the one thread that uses the queue (a relaxed load and store, no locked instruction);
/// read from any thread (metrics).
public final class LaneCounters: Sendable {
    // Unsafe atomics (pointers, destroyed with this object): a managed atomic is an object
    // of its own, retained and released on every use.
    let rxPackets = UnsafeAtomic<UInt64>.create(0)
    let txPackets = UnsafeAtomic<UInt64>.create(0)
    let droppedByVerdict = UnsafeAtomic<UInt64>.create(0)
    let txRefused = UnsafeAtomic<UInt64>.create(0)
    let rxMultiSegment = UnsafeAtomic<UInt64>.create(0)

    init() {}

    deinit {
        for counter in [rxPackets, txPackets, droppedByVerdict, txRefused, rxMultiSegment] { counter.destroy() }
    }

    /// Adds `amount` to a counter only this lane's thread writes.
    @inline(__always)
    static func add(_ counter: UnsafeAtomic<UInt64>, _ amount: Int) {
        counter.store(counter.load(ordering: .relaxed) &+ UInt64(amount), ordering: .relaxed)
    }

    /// The counts so far (device counters left zero).
    public var snapshot: PortCounters {
        PortCounters(rxPackets: rxPackets.load(ordering: .relaxed), txPackets: txPackets.load(ordering: .relaxed),
                     droppedByVerdict: droppedByVerdict.load(ordering: .relaxed), txRefused: txRefused.load(ordering: .relaxed),
                     rxMultiSegment: rxMultiSegment.load(ordering: .relaxed))
    }

    /// Several lanes' counts, summed.
    public static func sum(_ lanes: [LaneCounters]) -> PortCounters {
        lanes.map(\.snapshot).reduce(into: PortCounters()) { total, lane in
            total.rxPackets &+= lane.rxPackets
            total.txPackets &+= lane.txPackets
            total.droppedByVerdict &+= lane.droppedByVerdict
            total.txRefused &+= lane.txRefused
            total.rxMultiSegment &+= lane.rxMultiSegment
        }
    }
}

import Atomics
import Foundation
import MBoxProto

/// Takes alerts off the packet path: each worker pushes into a ring of its own (no lock,
/// no system call), and one writer thread drains every ring into the spool with one
/// write per batch (group commit). The spool's lock — which the control session also
/// takes while it compacts — is never held by a worker.
public final class AlertWriter: @unchecked Sendable {
    public let spool: AlertSpool
    private let rings: [AlertRing]
    private let started = ManagedAtomic<Bool>(false)
    /// Batches being written now (so `flush()` knows the rings' alerts have reached the spool).
    private let writing = ManagedAtomic<Int>(0)

    /// `workers` rings of `capacity` alerts each.
    public init(spool: AlertSpool, workers: Int, capacity: Int = 1 << 16) {
        self.spool = spool
        rings = (0..<max(1, workers)).map { _ in AlertRing(capacity: capacity) }
    }

    /// Worker `worker`'s ring; only that worker's thread pushes into it.
    public func ring(_ worker: Int) -> AlertRing {
        startIfNeeded()
        return rings[worker]
    }

    /// Alerts refused because a worker's ring was full (the writer fell behind).
    public var overflowed: UInt64 { rings.reduce(0) { $0 + $1.overflowed } }

    /// Alerts in rings, not yet in the spool.
    public var queued: Int { rings.reduce(0) { $0 + $1.count } }

    /// Returns once everything pushed before the call is in the spool (end of input).
    public func flush() {
        while queued > 0 || writing.load(ordering: .acquiring) > 0 { usleep(500) }
    }

    private func startIfNeeded() {
        guard started.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        // The thread holds the writer only while draining: once its owners let go, it ends.
        let thread = Thread { [weak self] in
            var batch: [Mbox_V1_Alert] = []
            batch.reserveCapacity(4096)
            while let writer = self {
                let wrote = writer.drain(into: &batch)
                if !wrote { usleep(1000) }
            }
        }
        thread.name = "mbox-alert-writer"
        thread.start()
    }

    /// One pass over the rings; whether anything was written.
    private func drain(into batch: inout [Mbox_V1_Alert]) -> Bool {
        writing.wrappingIncrement(ordering: .acquiring)
        defer { writing.wrappingDecrement(ordering: .releasing) }
        for ring in rings { ring.popAll(into: &batch) }
        guard !batch.isEmpty else { return false }
        spool.append(contentsOf: batch)
        batch.removeAll(keepingCapacity: true)
        return true
    }
}

/// A single-producer, single-consumer ring of alerts: the worker pushes, the writer pops.
public final class AlertRing: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<Mbox_V1_Alert?>
    private let mask: Int
    private let head = ManagedAtomic<Int>(0)
    private let tail = ManagedAtomic<Int>(0)
    private let overflow = ManagedAtomic<UInt64>(0)

    init(capacity: Int) {
        var size = 1
        while size < capacity { size <<= 1 }
        mask = size - 1
        slots = .allocate(capacity: size)
        slots.initialize(repeating: nil, count: size)
    }

    deinit {
        slots.deinitialize(count: mask + 1)
        slots.deallocate()
    }

    /// Worker side. False (and counted) when the ring is full.
    @discardableResult
    public func push(_ alert: Mbox_V1_Alert) -> Bool {
        let end = tail.load(ordering: .relaxed)
        guard end - head.load(ordering: .acquiring) <= mask else {
            overflow.wrappingIncrement(ordering: .relaxed)
            return false
        }
        slots[end & mask] = alert
        tail.store(end + 1, ordering: .releasing)
        return true
    }

    /// Writer side: moves every queued alert into `batch`.
    func popAll(into batch: inout [Mbox_V1_Alert]) {
        var start = head.load(ordering: .relaxed)
        let end = tail.load(ordering: .acquiring)
        while start < end {
            batch.append(slots[start & mask].take()!)
            start += 1
        }
        head.store(start, ordering: .releasing)
    }

    var count: Int { tail.load(ordering: .acquiring) - head.load(ordering: .acquiring) }
    var overflowed: UInt64 { overflow.load(ordering: .relaxed) }
}

import Atomics
import Foundation
import MBoxConcurrency
import MBoxProto
import MBoxRuntime

/// Takes alerts off the packet path: each worker pushes plain records into a ring of its
/// own (no lock, no system call, no formatting), and one writer thread drains every ring,
/// turns the records into protobuf and appends them to the spool with one write per batch
/// (group commit). The spool's lock — which the control session also
/// takes while it compacts — is never held by a worker.
public final class AlertWriter: Sendable {
    public let spool: AlertSpool
    private let rings: [SPSCRing<AlertRecord>]
    private let started = ManagedAtomic<Bool>(false)
    /// Batches being written now (so `flush()` knows the rings' alerts have reached the spool).
    private let writing = ManagedAtomic<Int>(0)

    /// `workers` rings of `capacity` alerts each.
    public init(spool: AlertSpool, workers: Int, capacity: Int = 1 << 16) {
        self.spool = spool
        rings = (0..<max(1, workers)).map { _ in SPSCRing<AlertRecord>(capacity: capacity) }
    }

    /// Worker `worker`'s ring; only that worker's thread pushes into it.
    public func ring(_ worker: Int) -> SPSCRing<AlertRecord> {
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
            var records: [AlertRecord] = []
            records.reserveCapacity(4096)
            var batch: [Mbox_V1_Alert] = []
            batch.reserveCapacity(4096)
            while let writer = self {
                let wrote = writer.drain(into: &batch, records: &records)
                if !wrote { usleep(1000) }
            }
        }
        thread.name = "mbox-alert-writer"
        thread.start()
    }

    /// One pass over the rings; whether anything was written.
    private func drain(into batch: inout [Mbox_V1_Alert], records: inout [AlertRecord]) -> Bool {
        writing.wrappingIncrement(ordering: .acquiring)
        defer { writing.wrappingDecrement(ordering: .releasing) }
        for ring in rings { ring.popAll(into: &records) }
        guard !records.isEmpty else { return false }
        batch.append(contentsOf: records.lazy.map(Mbox_V1_Alert.init))
        records.removeAll(keepingCapacity: true)
        spool.append(contentsOf: batch)
        batch.removeAll(keepingCapacity: true)
        return true
    }
}

import Atomics
import Foundation
import Synchronization

/// A file written by a thread of its own, so no worker ever blocks on a disk or shares a
/// lock with another: each producer (one thread each) fills a buffer of its own and submits
/// it whole through its ring; the sink's thread appends every producer's batches in the
/// order that producer submitted them. A ring that is full leaves the batch with its
/// producer, submitted again next time (nothing is lost unless a producer holds more than
/// `maximumHeld` bytes, which is counted).
public final class FileSink: Sendable {
    /// One producer's side: `append` bytes, `submit()` between bursts, from one thread.
    public final class Producer {
        private let ring: SPSCRing<[UInt8]>
        /// Bytes not yet handed to the sink's thread.
        public private(set) var pending: [UInt8] = []
        private let maximumHeld: Int
        private let dropped: ManagedAtomic<UInt64>

        init(ring: SPSCRing<[UInt8]>, maximumHeld: Int, dropped: ManagedAtomic<UInt64>) {
            self.ring = ring
            self.maximumHeld = maximumHeld
            self.dropped = dropped
            pending.reserveCapacity(1 << 12)
        }

        /// Appends bytes to the producer's buffer (no system call).
        @inline(__always)
        public func append<Bytes: Sequence>(contentsOf bytes: Bytes) where Bytes.Element == UInt8 {
            pending.append(contentsOf: bytes)
        }

        /// Hands what was appended to the sink's thread; kept for the next call when its ring
        /// is full (dropped and counted only past `maximumHeld` bytes).
        @inline(__always)
        public func submit() {
            guard !pending.isEmpty else { return }
            if ring.push(pending) {
                pending = []
                pending.reserveCapacity(1 << 12)
            } else if pending.count > maximumHeld {
                dropped.wrappingIncrement(by: UInt64(pending.count), ordering: .relaxed)
                pending.removeAll(keepingCapacity: true)
            }
        }

        /// Hands everything appended to the sink's thread, waiting for room in the ring (end
        /// of input; never on the packet path).
        public func submitAll() {
            submit()
            while !pending.isEmpty {
                usleep(200)
                submit()
            }
        }
    }

    public let path: String
    private let handle: FileHandle
    /// The first write that failed; later batches are counted as dropped.
    private let failure = Mutex<OutputFailure?>(nil)
    /// Every producer's ring; the thread reads the list once per pass.
    private let rings = Mutex<[SPSCRing<[UInt8]>]>([])
    private let started = ManagedAtomic<Bool>(false)
    /// Passes in progress (so `flush()` knows submitted batches are written).
    private let writing = ManagedAtomic<Int>(0)
    private let written = ManagedAtomic<UInt64>(0)
    private let droppedBytes = ManagedAtomic<UInt64>(0)
    private let maximumHeld: Int

    /// Writes to `handle` (opened by the caller, in place); `path` names it in errors.
    public init(handle: FileHandle, path: String, maximumHeld: Int = 64 << 20) {
        self.handle = handle
        self.path = path
        self.maximumHeld = maximumHeld
    }

    deinit {
        // The thread holds the sink only during a pass; none is running now. What is left is written here.
        drain()
    }

    /// A producer for one thread; its ring holds `batches` submissions.
    public func producer(batches: Int = 1024) -> Producer {
        let ring = SPSCRing<[UInt8]>(capacity: batches)
        rings.withLock { $0.append(ring) }
        startIfNeeded()
        return Producer(ring: ring, maximumHeld: maximumHeld, dropped: droppedBytes)
    }

    /// Bytes written to the file so far.
    public var bytesWritten: UInt64 { written.load(ordering: .relaxed) }
    /// Bytes given up because a producer held more than it may (the disk fell far behind).
    public var bytesDropped: UInt64 { droppedBytes.load(ordering: .relaxed) }

    /// Returns once every batch submitted before the call is written; throws the first
    /// write error.
    public func flush() throws {
        while rings.withLock({ $0.contains { $0.count > 0 } }) || writing.load(ordering: .acquiring) > 0 { usleep(200) }
        if let failure = failure.withLock({ $0 }) { throw failure }
    }

    private func startIfNeeded() {
        guard started.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        let thread = Thread { [weak self] in
            while let sink = self {
                let wrote = sink.drain()
                if !wrote { usleep(1000) }
            }
        }
        thread.name = "mbox-file-sink"
        thread.start()
    }

    /// One pass over the producers' rings; whether anything was written.
    @discardableResult
    private func drain() -> Bool {
        writing.wrappingIncrement(ordering: .acquiring)
        defer { writing.wrappingDecrement(ordering: .releasing) }
        let current = rings.withLock { $0 }
        var wrote = false
        for ring in current {
            while let batch = ring.pop() {
                wrote = true
                guard failure.withLock({ $0 == nil }) else {
                    droppedBytes.wrappingIncrement(by: UInt64(batch.count), ordering: .relaxed)
                    continue
                }
                do {
                    try handle.write(contentsOf: batch)
                    written.wrappingIncrement(by: UInt64(batch.count), ordering: .relaxed)
                } catch {
                    failure.withLock { $0 = OutputFailure(path: path, reason: "\(error)") }
                }
            }
        }
        return wrote
    }

    /// Writing the file failed (a full disk, a closed pipe).
    public struct OutputFailure: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }
}

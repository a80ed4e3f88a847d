import Atomics
import Foundation
import MBoxEvents

/// A helper thread that runs one NF's handler for one event at a time, for a parallel
/// stage. The caller and the helper meet through a single-producer/single-consumer
/// mailbox: the caller writes the event, then publishes a sequence number (release);
/// the helper runs the NF and publishes the same number as done (release). No lock.
final class ParallelHelper: @unchecked Sendable {
    private let functions: [any NetworkFunction]
    /// `requested` (written by the caller) and `completed` (written by the helper) on
    /// cache lines of their own, so neither write invalidates the other's line.
    private let lines: UnsafeMutableRawPointer
    private let requested: UnsafeAtomic<Int>
    private let completed: UnsafeAtomic<Int>
    private let stopping = ManagedAtomic<Bool>(false)
    private let stopped = ManagedAtomic<Bool>(false)
    private let event: UnsafeMutablePointer<Event>
    private var nf = 0
    private var sequence = 0
    private var thread: Thread?

    init(functions: [any NetworkFunction]) {
        self.functions = functions
        lines = .allocate(byteCount: 256, alignment: 128)
        requested = UnsafeAtomic(at: lines.bindMemory(to: UnsafeAtomic<Int>.Storage.self, capacity: 1))
        requested.store(0, ordering: .relaxed)
        completed = UnsafeAtomic(at: (lines + 128).bindMemory(to: UnsafeAtomic<Int>.Storage.self, capacity: 1))
        completed.store(0, ordering: .relaxed)
        event = .allocate(capacity: 1)
        event.initialize(to: Event(type: .packet, side: .client, cause: .client, slot: 0, flowID: 0, timestamp: 0))
        let thread = Thread { [unowned self] in self.loop() }
        thread.name = "mbox-nf-helper"
        thread.start()
        self.thread = thread
    }

    deinit {
        stop()
        event.deallocate()
        lines.deallocate()
    }

    /// Hands `event` to the helper to run NF `nf` on it.
    @inline(__always)
    func post(_ event: Event, to nf: Int) {
        self.event.pointee = event
        self.nf = nf
        sequence &+= 1
        requested.store(sequence, ordering: .releasing)
    }

    /// Waits until the helper finished the last posted event.
    @inline(__always)
    func wait() {
        var spins = 0
        while completed.load(ordering: .acquiring) != sequence {
            spins += 1
            if spins > 10_000 { sched_yield() }
        }
    }

    func stop() {
        guard thread != nil else { return }
        stopping.store(true, ordering: .releasing)
        while !stopped.load(ordering: .acquiring) { sched_yield() }
        thread = nil
    }

    private func loop() {
        var handled = 0
        var idle = 0
        while !stopping.load(ordering: .acquiring) {
            let next = requested.load(ordering: .acquiring)
            if next != handled {
                functions[nf].handle(event.pointee)
                handled = next
                completed.store(next, ordering: .releasing)
                idle = 0
            } else {
                idle += 1
                // Stay hot while packets flow; give the core back when they stop.
                if idle > 100_000 { sched_yield() }
                if idle > 1_000_000 { usleep(50) }
            }
        }
        stopped.store(true, ordering: .releasing)
    }
}

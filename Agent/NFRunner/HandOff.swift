import Atomics
import Foundation

/// The meeting point between a chain's thread and one helper thread: a counter each
/// side writes (on cache lines of their own, so neither write invalidates the other's
/// line), the helper thread itself, and how each side waits — spinning while work flows,
/// yielding when it stops. No lock; every field is an atomic (checked `Sendable`).
final class HandOff: Sendable {
    /// The two counters' lines, kept by address: only the atomics touch that memory, and
    /// `deinit` frees it.
    private let lines: UInt
    /// Written by the chain's thread: how much work it has posted.
    let posted: UnsafeAtomic<Int>
    /// Written by the helper: how much of it is done.
    let done: UnsafeAtomic<Int>
    private let stopping = ManagedAtomic<Bool>(false)
    private let stopped = ManagedAtomic<Bool>(false)

    /// Starts a helper (by `launcher`) running `loop`, which must return once `isStopping` is true.
    init(name: String, launcher: HelperLauncher, loop: @escaping @Sendable (HandOff) -> Void) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 128)
        lines = UInt(bitPattern: memory)
        posted = UnsafeAtomic(at: memory.bindMemory(to: UnsafeAtomic<Int>.Storage.self, capacity: 1))
        posted.store(0, ordering: .relaxed)
        done = UnsafeAtomic(at: (memory + 128).bindMemory(to: UnsafeAtomic<Int>.Storage.self, capacity: 1))
        done.store(0, ordering: .relaxed)
        launcher.start(name) { [unowned self] in
            loop(self)
            self.stopped.store(true, ordering: .releasing)
        }
    }

    deinit {
        stop()
        UnsafeMutableRawPointer(bitPattern: lines)!.deallocate()
    }

    var isStopping: Bool { stopping.load(ordering: .acquiring) }

    /// The chain's side: waits until the helper has done `count`.
    @inline(__always)
    func waitUntilDone(_ count: Int) {
        var spins = 0
        while done.load(ordering: .acquiring) != count {
            spins += 1
            if spins > 20_000 { sched_yield() }
        }
    }

    /// The helper's side, between polls that found nothing: poll like a DPDK lcore (a
    /// sleep would add its wake-up to the next packet's latency), but let other threads
    /// of this core run once the wait gets long.
    @inline(__always)
    static func idle(_ rounds: inout Int) {
        rounds += 1
        if rounds > 100_000 { sched_yield() }
    }

    /// Stops the helper and waits until it has; later calls return at once.
    func stop() {
        guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
        while !stopped.load(ordering: .acquiring) { sched_yield() }
    }
}

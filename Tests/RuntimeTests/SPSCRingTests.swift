import Foundation
import MBoxConcurrency
import MBoxRuntime
import Testing

@Suite("Single-producer/single-consumer ring")
struct SPSCRingTests {
    @Test("one thread pushes 500,000 values while another pops: all arrive, in order, none twice")
    func crossThreadOrder() async throws {
        let ring = SPSCRing<Int>(capacity: 1024)
        let total = 500_000
        let producer = Thread {
            var next = 0
            while next < total { if ring.push(next) { next += 1 } else { sched_yield() } }
        }
        producer.start()
        var expected = 0
        var outOfOrder = 0
        var batch: [Int] = []
        while expected < total {
            if expected % 2 == 0, let value = ring.pop() {
                if value != expected { outOfOrder += 1 }
                expected += 1
            } else {
                ring.popAll(into: &batch)
                for value in batch {
                    if value != expected { outOfOrder += 1 }
                    expected += 1
                }
                batch.removeAll(keepingCapacity: true)
            }
        }
        #expect(outOfOrder == 0)
        #expect(ring.pop() == nil)
        #expect(ring.count == 0)
    }

    @Test("a full ring refuses and counts; its capacity is rounded up to a power of two")
    func overflowIsCounted() {
        let ring = SPSCRing<Int>(capacity: 5)
        #expect(ring.capacity == 8)
        var taken = 0
        for value in 0..<20 where ring.push(value) { taken += 1 }
        #expect(taken == 8)
        #expect(ring.overflowed == 12)
        #expect((0..<8).map { _ in ring.pop() } == (0..<8).map { Optional($0) })
    }

    final class Tracked {
        static let lock = NSLock()
        nonisolated(unsafe) static var alive = 0
        init() { Self.lock.withLock { Self.alive += 1 } }
        deinit { Self.lock.withLock { Self.alive -= 1 } }
    }

    @Test("values left in a ring are released with it")
    func leftoversReleased() {
        let before = Tracked.lock.withLock { Tracked.alive }
        do {
            let ring = SPSCRing<Tracked>(capacity: 16)
            for _ in 0..<10 { ring.push(Tracked()) }
            _ = ring.pop()
            #expect(Tracked.lock.withLock { Tracked.alive } == before + 9)
        }
        #expect(Tracked.lock.withLock { Tracked.alive } == before)
    }
}

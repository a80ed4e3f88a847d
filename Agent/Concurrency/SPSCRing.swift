import Atomics

/// A bounded lock-free ring with one producer thread and one consumer thread: the one way
/// values cross cores in the agent (packets to workers, verdicts back, alerts to their
/// writer). A full ring refuses a push and counts it; nothing blocks.
///
/// `@unchecked Sendable`: the slots are touched only by the producer (between its load of
/// `head` and store of `tail`) or the consumer (the mirror), ordered by acquire/release.
public final class SPSCRing<Element>: @unchecked Sendable {
    private let storage: UnsafeMutablePointer<Element>
    private let mask: Int
    /// Next slot to pop (written by the consumer).
    private let head = ManagedAtomic<Int>(0)
    /// Next slot to push (written by the producer).
    private let tail = ManagedAtomic<Int>(0)
    private let refused = ManagedAtomic<UInt64>(0)

    /// A ring of at least `capacity` slots (rounded up to a power of two).
    public init(capacity: Int) {
        precondition(capacity > 0, "a ring needs a slot")
        var size = 1
        while size < capacity { size <<= 1 }
        storage = .allocate(capacity: size)
        mask = size - 1
    }

    deinit {
        var position = head.load(ordering: .acquiring)
        let end = tail.load(ordering: .acquiring)
        while position != end {
            (storage + (position & mask)).deinitialize(count: 1)
            position += 1
        }
        storage.deallocate()
    }

    /// Producer side: false (and counted in `overflowed`) when the ring is full.
    @inline(__always) @discardableResult
    public func push(_ element: Element) -> Bool {
        let position = tail.load(ordering: .relaxed)
        guard position - head.load(ordering: .acquiring) <= mask else {
            refused.wrappingIncrement(ordering: .relaxed)
            return false
        }
        (storage + (position & mask)).initialize(to: element)
        tail.store(position + 1, ordering: .releasing)
        return true
    }

    /// Consumer side: the oldest element, nil when empty.
    @inline(__always)
    public func pop() -> Element? {
        let position = head.load(ordering: .relaxed)
        guard tail.load(ordering: .acquiring) != position else { return nil }
        let element = (storage + (position & mask)).move()
        head.store(position + 1, ordering: .releasing)
        return element
    }

    /// Consumer side: moves every queued element into `batch` with one store of `head`.
    public func popAll(into batch: inout [Element]) {
        var position = head.load(ordering: .relaxed)
        let end = tail.load(ordering: .acquiring)
        while position != end {
            batch.append((storage + (position & mask)).move())
            position += 1
        }
        head.store(position, ordering: .releasing)
    }

    /// Elements queued now (either side; a snapshot).
    public var count: Int { tail.load(ordering: .acquiring) - head.load(ordering: .acquiring) }

    /// Pushes refused because the ring was full.
    public var overflowed: UInt64 { refused.load(ordering: .relaxed) }

    /// Slots in the ring.
    public var capacity: Int { mask + 1 }
}

import Foundation
import MBoxEvents

/// Runs some of a chain's read-only NFs on a helper core, asynchronously: the chain's
/// thread pushes their events into a lock-free single-producer/single-consumer ring and
/// goes on with the other NFs; it waits only once per packet, before the verdict, for
/// the helper to catch up. Offloaded NFs keep their per-flow subscription state on the
/// helper side (they change only their own), and what they publish is delivered after
/// the wait; the compiler offloads only NFs whose publications no NF subscribes to.
///
/// `@unchecked Sendable`: the chain's thread and the helper touch the event slots only on their
/// side of the posted/done counters (`HandOff`), which order them.
final class Offloader: @unchecked Sendable {
    struct Entry {
        enum Kind: UInt8 { case deliver, flowStarted, flowEnded }
        var kind: Kind
        /// The stage whose offloaded members get the event.
        var stage: Int
        var event: Event
    }

    private let capacity = 1024
    private let ring: UnsafeMutablePointer<Entry>
    /// Entries produced (`posted`) and consumed (`done`).
    private var handOff: HandOff!
    private var producedLocal = 0

    // Helper-side state, read by the chain's thread only after `waitUntilIdle()`.
    let table: SubscriptionTable
    let functions: [any NetworkFunction]
    /// Offloaded NFs of each stage, and all of them.
    let stageMembers: [[Int]]
    let members: [Int]
    /// Per flow slot, the offloaded NFs' active subscriptions.
    private let masks: UnsafeMutablePointer<UInt64>
    private let offloadedBits: UInt64
    var delivered = [UInt64](repeating: 0, count: EventTypes.maximumCount)
    var perNF: [UInt64]
    var outbox: [(nf: Int, event: Event)] = []
    private(set) var ringFullWaits: UInt64 = 0

    init(table: SubscriptionTable, functions: [any NetworkFunction], stageMembers: [[Int]], capacity slots: Int,
         launcher: HelperLauncher) {
        self.table = table
        self.functions = functions
        self.stageMembers = stageMembers
        members = stageMembers.flatMap { $0 }.sorted()
        offloadedBits = members.reduce(0) { $0 | table.byNF[$1] }
        perNF = [UInt64](repeating: 0, count: functions.count)
        masks = .allocate(capacity: slots)
        masks.initialize(repeating: table.initial & offloadedBits, count: slots)
        ring = .allocate(capacity: capacity)
        outbox.reserveCapacity(16)
        handOff = HandOff(name: "mbox-nf-offload", launcher: launcher) { [unowned self] handOff in self.loop(handOff) }
    }

    deinit {
        handOff.stop()
        ring.deallocate()
        masks.deallocate()
    }

    /// Whether an event of this type and stack bit may interest an offloaded NF.
    @inline(__always)
    func mayWant(_ wanted: UInt64) -> Bool { wanted & offloadedBits != 0 }

    /// Queues an event for the helper (producer side).
    @inline(__always)
    func push(_ kind: Entry.Kind, stage: Int, _ event: Event) {
        while producedLocal - handOff.done.load(ordering: .acquiring) >= capacity {
            ringFullWaits &+= 1
            sched_yield()
        }
        (ring + (producedLocal & (capacity - 1))).initialize(to: Entry(kind: kind, stage: stage, event: event))
        producedLocal &+= 1
        handOff.posted.store(producedLocal, ordering: .releasing)
    }

    /// Waits until the helper has handled everything queued (once per packet).
    @inline(__always)
    func waitUntilIdle() { handOff.waitUntilDone(producedLocal) }

    func stop() { handOff.stop() }

    // MARK: - Helper side

    /// Subscription changes an offloaded NF makes to itself.
    func change(slot: Int32, mask: UInt64, on: Bool) {
        if on { masks[Int(slot)] |= mask & offloadedBits } else { masks[Int(slot)] &= ~mask }
    }

    private func loop(_ handOff: HandOff) {
        var next = 0
        var idle = 0
        while !handOff.isStopping {
            let available = handOff.posted.load(ordering: .acquiring)
            if available == next {
                HandOff.idle(&idle)
                continue
            }
            idle = 0
            while next != available {
                let entry = ring + (next & (capacity - 1))
                run(entry.pointee)
                entry.deinitialize(count: 1)
                next &+= 1
                handOff.done.store(next, ordering: .releasing)
            }
        }
    }

    private func run(_ entry: Entry) {
        let event = entry.event
        switch entry.kind {
        case .flowStarted:
            masks[Int(event.slot)] = table.initial & offloadedBits
            for nf in members { functions[nf].flowStarted(slot: event.slot) }
        case .flowEnded:
            for nf in members { functions[nf].flowEnded(slot: event.slot) }
        case .deliver:
            let wanted = table.wanting(event.type, StackFilter.bit(side: event.side, cause: event.cause))
            for nf in stageMembers[entry.stage] {
                let active = wanted & masks[Int(event.slot)] & table.byNF[nf]
                guard active != 0, ChainRunner.conditionsHold(active, event, table) else { continue }
                delivered[Int(event.type.rawValue)] &+= 1
                perNF[nf] &+= 1
                functions[nf].handle(event)
            }
        }
    }
}

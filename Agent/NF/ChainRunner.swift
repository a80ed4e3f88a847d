import MBoxCapture
import MBoxDataPath
import MBoxEvents
import MBoxFlow

/// A packet's fate once every NF holding it is done.
public enum Verdict: Sendable, Equatable {
    case forward
    case drop
}

/// One NF as the chain knows it.
public struct ChainMember {
    public var name: String
    public var action: NFAction
    public var function: any NetworkFunction

    public init(name: String, action: NFAction, function: any NetworkFunction) {
        self.name = name
        self.action = action
        self.function = function
    }
}

/// What the runner counted.
public struct ChainCounters: Sendable {
    /// Events delivered to NF handlers, by event type.
    public var delivered = [UInt64](repeating: 0, count: EventTypes.maximumCount)
    /// Handler calls per NF.
    public var perNF: [UInt64] = []
    public var dropped: UInt64 = 0
    public var published: UInt64 = 0
    /// Publications refused because events published events too deeply (a loop).
    public var publishLoops: UInt64 = 0

    public var totalDelivered: UInt64 { delivered.reduce(0, &+) }
}

/// The NF stage of one worker: delivers each event to the NFs whose subscriptions want
/// it, in chain order, and gathers the packet's verdict.
///
/// Whether an NF wants an event is decided when its turn comes, from the compiled
/// subscription table and the flow's active-subscription word — so an NF that turns on
/// a later NF's subscription (as `DPI_DETECT` does for `Signature_Match`) affects the
/// very event being delivered. Events an NF publishes are delivered at once, depth first.
public final class ChainRunner {
    public let types: EventTypes
    public let table: SubscriptionTable
    public let flowSubscriptions: FlowSubscriptions
    public let members: [ChainMember]
    public private(set) var counters = ChainCounters()
    public private(set) var verdict = Verdict.forward
    /// `IDS_ALERT` events published during the last packet, for outputs (EVE).
    public private(set) var alerts: ContiguousArray<Event> = []
    public private(set) var contexts: [NFContext] = []

    private let functions: [any NetworkFunction]
    private let flows: FlowTable
    private var depth = 0
    private static let maximumDepth = 8

    public init(types: EventTypes, subscriptions: [Subscription], members: [ChainMember], flows: FlowTable) throws {
        self.types = types
        self.members = members
        self.functions = members.map(\.function)
        self.flows = flows
        table = try SubscriptionTable(subscriptions, types: types, nfCount: members.count)
        flowSubscriptions = FlowSubscriptions(capacity: flows.configuration.capacity, initial: table.initial)
        counters.perNF = [UInt64](repeating: 0, count: members.count)
        alerts.reserveCapacity(8)
        contexts = members.enumerated().map { index, member in
            NFContext(index: index, name: member.name, action: member.action,
                      capacity: flows.configuration.capacity, runner: self)
        }
        for (function, context) in zip(functions, contexts) { function.attach(context) }
    }

    public func index(of name: String) -> Int? { members.firstIndex { $0.name == name } }

    /// Delivers one packet's events; the verdict is final when this returns.
    @inline(__always)
    public func run(_ events: ContiguousArray<Event>) -> Verdict {
        verdict = .forward
        if !alerts.isEmpty { alerts.removeAll(keepingCapacity: true) }
        for index in events.indices {
            dispatch(events[index])
        }
        return verdict
    }

    /// End of input: every NF flushes.
    public func finish() {
        for function in functions { function.finish() }
    }

    @inline(__always)
    func dispatch(_ event: Event) {
        let slot = event.slot
        if event.type == .flow || event.type == .flowTCP {
            flowSubscriptions.reset(slot)
            for function in functions { function.flowStarted(slot: slot) }
        }
        let wanted = table.wanting(event.type, StackFilter.bit(side: event.side, cause: event.cause))
        if wanted & flowSubscriptions.active(slot) != 0 {
            let carriesPacket = event.headers != nil
            for index in functions.indices {
                if carriesPacket && verdict == .drop { break }  // a dropped packet goes no further
                let active = wanted & flowSubscriptions.active(slot) & table.byNF[index]
                guard active != 0, conditionsHold(active, event) else { continue }
                counters.delivered[Int(event.type.rawValue)] &+= 1
                counters.perNF[index] &+= 1
                functions[index].handle(event)
            }
        }
        if event.type == .flowDestroyed {
            for function in functions { function.flowEnded(slot: slot) }
        }
    }

    /// An NF with only conditional subscriptions active gets the event if one holds.
    @inline(__always)
    private func conditionsHold(_ active: UInt64, _ event: Event) -> Bool {
        if active & ~table.conditional != 0 { return true }
        var remaining = active
        while remaining != 0 {
            let index = remaining.trailingZeroBitCount
            remaining &= remaining - 1
            if table.subscriptions[index].condition?.holds(for: event) ?? true { return true }
        }
        return false
    }

    func publish(_ event: Event) {
        counters.published &+= 1
        if event.type == .idsAlert { alerts.append(event) }
        guard depth < Self.maximumDepth else {
            counters.publishLoops &+= 1
            return
        }
        depth += 1
        dispatch(event)
        depth -= 1
    }

    func setSubscriptions(nf: Int, type: EventTypeID, slot: Int32, on: Bool) {
        let mask = table.subscriptions(of: nf, to: type, types: types)
        if on { flowSubscriptions.enable(slot, mask) } else { flowSubscriptions.disable(slot, mask) }
    }

    func drop(by nf: Int) {
        if verdict != .drop { counters.dropped &+= 1 }
        verdict = .drop
    }

    func flowKey(_ slot: Int32) -> FlowKey { flows.key(slot) }
}

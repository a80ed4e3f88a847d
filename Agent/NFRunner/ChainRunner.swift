import MBoxAppLayer
import MBoxCapture
import MBoxDataPath
import MBoxEvents
import MBoxFlow
import MBoxPacket
import MBoxTCPSplicer
import MBoxTCPSplitProxy

/// A packet's fate once every NF holding it is done.
public enum Verdict: Sendable, Equatable {
    case forward
    case drop
    /// Its μStack took it (answered it, held it, or it is of no use to the other side):
    /// not forwarded, not counted as dropped.
    case consumed
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
    /// Publications refused because published events published events too deeply (a loop).
    public var publishLoops: UInt64 = 0
    /// Events handed to another core: fork-join (two or more NFs of a parallel group
    /// wanted them) or queued for offloaded NFs.
    public var parallelEvents: UInt64 = 0

    public var totalDelivered: UInt64 { delivered.reduce(0, &+) }
}

/// The NF stage of one worker: delivers each event to the NFs whose subscriptions want
/// it, stage by stage in chain order, and gathers the packet's verdict.
///
/// Whether an NF wants an event is decided when its turn comes, from the compiled
/// subscription table and the flow's active-subscription word — so an NF that turns on
/// a later NF's subscription (as `DPI_DETECT` does for `Signature_Match`) affects the
/// very event being delivered. Events an NF publishes are delivered at once, depth first.
///
/// A stage of several read-only NFs that do not feed each other runs them in parallel:
/// the first on this thread, the others on helper threads reached through lock-free
/// single-producer/single-consumer mailboxes. What they publish or change while running
/// in parallel is applied after all of them are done, in chain order.
public final class ChainRunner {
    public let types: EventTypes
    /// The application-layer stage the event source feeds, read by NFs through their context.
    public let appLayer: AppLayerStage?
    public let table: SubscriptionTable
    public let flowSubscriptions: FlowSubscriptions
    public let members: [ChainMember]
    public let stages: [[Int]]
    /// What the runner counted so far (a snapshot).
    public var counters: ChainCounters {
        var snapshot = tallies
        snapshot.delivered = Array(UnsafeBufferPointer(start: deliveredCounts, count: EventTypes.maximumCount))
        snapshot.perNF = Array(UnsafeBufferPointer(start: perNFCounts, count: members.count))
        return snapshot
    }
    /// Scalar counters; per-type and per-NF counts live in preallocated storage, so counting
    /// an event costs two increments and no copy-on-write check.
    private var tallies = ChainCounters()
    private let deliveredCounts: UnsafeMutablePointer<UInt64>
    private let perNFCounts: UnsafeMutablePointer<UInt64>
    public private(set) var verdict = Verdict.forward
    /// What the NFs decided for the packet's μStack (reject, backend, answer, stream edits),
    /// applied by the data path once the chain has run.
    public var decision = StackDecision()
    /// `IDS_ALERT` events published during the last packet, for outputs (EVE).
    public private(set) var alerts: ContiguousArray<Event> = []
    public private(set) var contexts: [NFContext] = []

    let functions: [any NetworkFunction]
    /// The same NFs for per-event calls: through `functions` each call would retain and
    /// release its NF.
    private let handlers: UnsafeMutableBufferPointer<UnretainedFunction>
    /// The data path whose flows the NFs ask about, given by `attach(to:)` on its own thread
    /// (a runner is built off it). Strong: the data path holds no runner, so no cycle.
    private var dataPath: DataPath?
    private var depth = 0
    private static let maximumDepth = 8
    /// Per NF: whether it runs in a parallel section now, and what it did meanwhile.
    private var deferring: [Bool]
    private var deferred: [[DeferredAction]]
    private let helpers: [ParallelHelper]
    private var wantingBuffer: [Int] = []
    private let offloader: Offloader?
    private let isOffloaded: [Bool]
    /// Every stage one NF and none offloaded (the common chain): dispatch walks the NFs'
    /// indices in order, without the per-stage arrays (each would be retained per event).
    private let isSequential: Bool
    private let sequence: UnsafeMutableBufferPointer<Int>

    enum DeferredAction {
        case publish(Event)
        case subscriptions(slot: Int32, mask: UInt64, on: Bool)
    }

    /// `offloaded` NFs (read-only, their publications unsubscribed) run asynchronously on
    /// a helper core; other parallel stages fork and join per event. Helpers start by
    /// `launcher` (threads, or the agent's free EAL lcores).
    ///
    /// `capacity` is the flow table's of the data path the runner will serve; until
    /// `attach(to:)` the runner belongs to no data path and may move to its thread.
    public init(types: EventTypes, subscriptions: [Subscription], members: [ChainMember], capacity: Int,
                stages: [[Int]]? = nil, offloaded: Set<Int> = [], launcher: HelperLauncher = .threads,
                appLayer: AppLayerStage? = nil) throws {
        self.types = types
        self.appLayer = appLayer
        self.members = members
        self.functions = members.map(\.function)
        handlers = .allocate(capacity: members.count)
        _ = handlers.initialize(from: functions.map(UnretainedFunction.init))
        self.stages = stages ?? members.indices.map { [$0] }
        table = try SubscriptionTable(subscriptions, types: types, nfCount: members.count)
        flowSubscriptions = FlowSubscriptions(capacity: capacity, initial: table.initial)
        deliveredCounts = .allocate(capacity: EventTypes.maximumCount)
        deliveredCounts.initialize(repeating: 0, count: EventTypes.maximumCount)
        perNFCounts = .allocate(capacity: max(1, members.count))
        perNFCounts.initialize(repeating: 0, count: max(1, members.count))
        deferring = [Bool](repeating: false, count: members.count)
        deferred = [[DeferredAction]](repeating: [], count: members.count)
        for index in deferred.indices { deferred[index].reserveCapacity(8) }
        alerts.reserveCapacity(8)
        wantingBuffer.reserveCapacity(members.count)
        isOffloaded = members.indices.map { offloaded.contains($0) }
        offloader = offloaded.isEmpty ? nil
            : Offloader(table: table, functions: functions,
                        stageMembers: self.stages.map { $0.filter { offloaded.contains($0) } },
                        capacity: capacity, launcher: launcher)
        let forkJoinWidth = self.stages.map { $0.filter { !offloaded.contains($0) }.count }.max() ?? 1
        helpers = (0..<max(0, forkJoinWidth - 1)).map { [functions] _ in ParallelHelper(functions: functions, launcher: launcher) }
        isSequential = offloaded.isEmpty && self.stages.allSatisfy { $0.count == 1 }
        sequence = .allocate(capacity: self.stages.count)
        for (position, stage) in self.stages.enumerated() {
            (sequence.baseAddress! + position).initialize(to: stage[0])
        }
        contexts = members.enumerated().map { index, member in
            NFContext(index: index, name: member.name, action: member.action,
                      capacity: capacity, runner: self)
        }
        for (function, context) in zip(functions, contexts) { try function.attach(context) }
    }

    /// A runner on `dataPath` from the start (tests, and chains built on the data path's thread).
    public convenience init(types: EventTypes, subscriptions: [Subscription], members: [ChainMember], dataPath: DataPath,
                            stages: [[Int]]? = nil, offloaded: Set<Int> = [], launcher: HelperLauncher = .threads,
                            appLayer: AppLayerStage? = nil) throws {
        try self.init(types: types, subscriptions: subscriptions, members: members,
                      capacity: dataPath.flows.configuration.capacity, stages: stages, offloaded: offloaded,
                      launcher: launcher, appLayer: appLayer)
        attach(to: dataPath)
    }

    /// Binds the runner to the data path it serves; call on that data path's thread.
    public func attach(to dataPath: DataPath) { self.dataPath = dataPath }

    deinit {
        handlers.deallocate()
        sequence.deallocate()
        for helper in helpers { helper.stop() }
        offloader?.stop()
        deliveredCounts.deallocate()
        perNFCounts.deallocate()
    }

    public func index(of name: String) -> Int? { members.firstIndex { $0.name == name } }

    /// Delivers one packet's events; the verdict is final when this returns.
    @inline(__always)
    public func run(_ events: UnsafeBufferPointer<Event>) -> Verdict {
        verdict = .forward
        // Tested first: writing nil over nil still releases the old value.
        if decision.reject { decision.reject = false }
        if decision.backend != nil { decision.backend = nil }
        if decision.response != nil { decision.response = nil }
        if !alerts.isEmpty { alerts.removeAll(keepingCapacity: true) }
        for index in events.indices {
            dispatch(events[index])
        }
        if let offloader { drain(offloader) }
        return verdict
    }

    /// Waits for the offloaded NFs to finish this packet, takes their counts and delivers
    /// what they published.
    private func drain(_ offloader: Offloader) {
        offloader.waitUntilIdle()
        for index in offloader.members {
            perNFCounts[index] &+= offloader.perNF[index]
            offloader.perNF[index] = 0
        }
        for type in 0..<types.count where offloader.delivered[type] != 0 {
            deliveredCounts[type] &+= offloader.delivered[type]
            offloader.delivered[type] = 0
        }
        guard !offloader.outbox.isEmpty else { return }
        let published = offloader.outbox
        offloader.outbox.removeAll(keepingCapacity: true)
        for (_, event) in published { deliverPublished(event) }
    }

    /// End of input: every NF flushes; helper threads stop.
    public func finish() {
        if let offloader { drain(offloader) }
        for function in functions { function.finish() }
        for helper in helpers { helper.stop() }
        offloader?.stop()
    }

    @inline(__always)
    func dispatch(_ event: Event) {
        let slot = event.slot
        if event.type == .flow || event.type == .flowTCP {
            flowSubscriptions.reset(slot)
            offloader?.push(.flowStarted, stage: 0, event)
            for (index, function) in functions.enumerated() where !isOffloaded[index] { function.flowStarted(slot: slot) }
        }
        let wanted = table.wanting(event.type, StackFilter.bit(side: event.side, cause: event.cause))
        if isSequential {
            if wanted & flowSubscriptions.active(slot) != 0 { dispatchInSequence(event, wanted: wanted) }
        } else {
            dispatchByStage(event, wanted: wanted)
        }
        if event.type == .flowDestroyed {
            for (index, function) in functions.enumerated() where !isOffloaded[index] { function.flowEnded(slot: slot) }
            offloader?.push(.flowEnded, stage: 0, event)
        }
    }

    @inline(__always)
    private func dispatchInSequence(_ event: Event, wanted: UInt64) {
        let carriesPacket = event.headers != nil
        for position in 0..<sequence.count {
            if carriesPacket && verdict == .drop { break }  // a dropped packet goes no further
            let nf = sequence[position]
            guard wants(event, nf, wanted) else { continue }
            deliveredCounts[Int(event.type.rawValue)] &+= 1
            perNFCounts[nf] &+= 1
            handlers[nf].handle(event)
        }
    }

    private func dispatchByStage(_ event: Event, wanted: UInt64) {
        let offload = offloader.map { $0.mayWant(wanted) } ?? false
        if offload || wanted & flowSubscriptions.active(event.slot) != 0 {
            let carriesPacket = event.headers != nil
            for (stageIndex, stage) in stages.enumerated() {
                if carriesPacket && verdict == .drop { break }  // a dropped packet goes no further
                if stage.count == 1 {
                    if isOffloaded[stage[0]] {
                        if offload { offloader!.push(.deliver, stage: stageIndex, event); tallies.parallelEvents &+= 1 }
                    } else {
                        deliver(event, to: stage[0], wanted: wanted)
                    }
                } else if offloader != nil, stage.contains(where: { isOffloaded[$0] }) {
                    if offload { offloader!.push(.deliver, stage: stageIndex, event); tallies.parallelEvents &+= 1 }
                    for nf in stage where !isOffloaded[nf] { deliver(event, to: nf, wanted: wanted) }
                } else {
                    runParallel(event, stage: stage, wanted: wanted)
                }
            }
        }
    }

    @inline(__always)
    private func wants(_ event: Event, _ nf: Int, _ wanted: UInt64) -> Bool {
        let active = wanted & flowSubscriptions.active(event.slot) & table.byNF[nf]
        return active != 0 && conditionsHold(active, event)
    }

    @inline(__always)
    private func deliver(_ event: Event, to nf: Int, wanted: UInt64) {
        guard wants(event, nf, wanted) else { return }
        deliveredCounts[Int(event.type.rawValue)] &+= 1
        perNFCounts[nf] &+= 1
        handlers[nf].handle(event)
    }

    private func runParallel(_ event: Event, stage: [Int], wanted: UInt64) {
        wantingBuffer.removeAll(keepingCapacity: true)
        for nf in stage where wants(event, nf, wanted) { wantingBuffer.append(nf) }
        guard wantingBuffer.count > 1 else {
            if let only = wantingBuffer.first { deliver(event, to: only, wanted: wanted) }
            return
        }
        tallies.parallelEvents &+= 1
        for nf in wantingBuffer {
            deliveredCounts[Int(event.type.rawValue)] &+= 1
            perNFCounts[nf] &+= 1
            deferring[nf] = true
        }
        for (helper, nf) in zip(helpers, wantingBuffer.dropFirst()) { helper.post(event, to: nf) }
        handlers[wantingBuffer[0]].handle(event)
        for helper in helpers.prefix(wantingBuffer.count - 1) { helper.wait() }
        // Apply what they did, in chain order.
        for nf in wantingBuffer {
            deferring[nf] = false
            guard !deferred[nf].isEmpty else { continue }
            let actions = deferred[nf]
            deferred[nf].removeAll(keepingCapacity: true)
            for action in actions {
                switch action {
                case let .publish(published): publish(published, from: nf)
                case let .subscriptions(slot, mask, on): apply(slot: slot, mask: mask, on: on)
                }
            }
        }
    }

    /// An NF with only conditional subscriptions active gets the event if one holds.
    @inline(__always)
    private func conditionsHold(_ active: UInt64, _ event: Event) -> Bool {
        Self.conditionsHold(active, event, table)
    }

    @inline(__always)
    static func conditionsHold(_ active: UInt64, _ event: Event, _ table: SubscriptionTable) -> Bool {
        if active & ~table.conditional != 0 { return true }
        var remaining = active
        while remaining != 0 {
            let index = remaining.trailingZeroBitCount
            remaining &= remaining - 1
            if table.subscriptions[index].condition?.holds(for: event) ?? true { return true }
        }
        return false
    }

    func publish(_ event: Event, from nf: Int) {
        if isOffloaded[nf], let offloader {
            // Offloaded NFs run on the helper; their events are delivered after the wait.
            offloader.outbox.append((nf, event))
            return
        }
        if deferring[nf] {
            deferred[nf].append(.publish(event))
            return
        }
        deliverPublished(event)
    }

    /// Counts a published event, records alerts, and dispatches it at once.
    private func deliverPublished(_ event: Event) {
        tallies.published &+= 1
        if event.type == .idsAlert { alerts.append(event) }
        guard depth < Self.maximumDepth else {
            tallies.publishLoops &+= 1
            return
        }
        depth += 1
        dispatch(event)
        depth -= 1
    }

    func setSubscriptions(of nf: Int, by actor: Int, type: EventTypeID, slot: Int32, on: Bool) {
        changeSubscriptions(by: actor, slot: slot, mask: table.subscriptions(of: nf, to: type, types: types), on: on)
    }

    func changeSubscriptions(by actor: Int, slot: Int32, mask: UInt64, on: Bool) {
        if isOffloaded[actor], let offloader {
            // Offloaded NFs change only their own subscriptions, on the helper's side.
            offloader.change(slot: slot, mask: mask & table.byNF[actor], on: on)
            return
        }
        if deferring[actor] {
            deferred[actor].append(.subscriptions(slot: slot, mask: mask, on: on))
        } else {
            apply(slot: slot, mask: mask, on: on)
        }
    }

    private func apply(slot: Int32, mask: UInt64, on: Bool) {
        if on { flowSubscriptions.enable(slot, mask) } else { flowSubscriptions.disable(slot, mask) }
    }

    func drop(by nf: Int) {
        if verdict != .drop { tallies.dropped &+= 1 }
        verdict = .drop
    }

    func reject() { decision.reject = true }

    func editStream(chunk: Int, length: Int, range: Range<Int>, with bytes: some Collection<UInt8>) {
        decision.streamEdits.replace(chunk: chunk, length: length, range: range, with: bytes)
    }

    func holdStream(chunk: Int, from offset: Int) { decision.streamEdits.hold(chunk: chunk, from: offset) }

    func respond(_ answer: StackResponse) {
        if decision.response == nil { decision.response = answer }
    }

    func choose(_ choice: BackendChoice) {
        if decision.backend == nil { decision.backend = choice }
    }

    func currentFlowID(_ slot: Int32) -> UInt64 { dataPath!.flows.flowID(slot) }

    /// The key of an event's flow (valid while the packet that caused it is processed).
    public func flowKey(of event: Event) -> FlowKey { flowKey(slot: event.slot, flowID: event.flowID) }

    /// The key of an event's flow, also when the flow ended and its slot was reused.
    func flowKey(slot: Int32, flowID: UInt64) -> FlowKey {
        let dataPath = dataPath!
        if dataPath.flows.flowID(slot) == flowID { return dataPath.flows.key(slot) }
        return dataPath.endedFlows.first { $0.flowID == flowID }?.key ?? dataPath.flows.key(slot)
    }
}

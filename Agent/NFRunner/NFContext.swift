import MBoxAppLayer
import MBoxDataPath
import MBoxEvents
import MBoxPacket
import MBoxTCPSplicer
import MBoxTCPSplitProxy
import MBoxFlow

/// An NF's handle on the chain it runs in: publishing, per-flow subscriptions, verdicts.
/// One per NF, made when the chain is built; using it allocates nothing.
public final class NFContext {
    /// The NF's position in the chain.
    public let index: Int
    public let name: String
    public let action: NFAction
    /// Flow slots the NF must keep state for.
    public let capacity: Int
    public var types: EventTypes { withRunner { $0.types } }
    /// The worker's application-layer stage (nil when no NF of the chain reads application
    /// data): what each packet's streams and datagrams completed, parsed once for every NF.
    public var appLayer: AppLayerStage? { withRunner { $0.appLayer } }
    /// The runner, which owns this context and outlives every use of it: held unretained
    /// (`unowned` would check and retain on each of the NF's per-event calls).
    private let unretainedRunner: Unmanaged<ChainRunner>

    init(index: Int, name: String, action: NFAction, capacity: Int, runner: ChainRunner) {
        self.index = index
        self.name = name
        self.action = action
        self.capacity = capacity
        unretainedRunner = .passUnretained(runner)
    }

    @inline(__always)
    private func withRunner<Result>(_ body: (ChainRunner) throws -> Result) rethrows -> Result {
        try unretainedRunner._withUnsafeGuaranteedRef(body)
    }

    /// Publishes a custom event about `event`'s flow; subscribers get it at once.
    @inline(__always)
    public func publish(_ type: EventTypeID, about event: Event, detail: EventDetail) {
        var published = event
        published.type = type
        published.detail = detail
        published.publisher = Int8(index)
        withRunner { $0.publish(published, from: index) }
    }

    /// Turns on, for one flow, this NF's subscriptions to `type` (and its subtypes).
    public func subscribe(slot: Int32, to type: EventTypeID) {
        withRunner { $0.setSubscriptions(of: index, by: index, type: type, slot: slot, on: true) }
    }

    /// Turns off, for one flow, this NF's subscriptions to `type` (and its subtypes).
    public func unsubscribe(slot: Int32, from type: EventTypeID) {
        withRunner { $0.setSubscriptions(of: index, by: index, type: type, slot: slot, on: false) }
    }

    /// Turns off every subscription of this NF for one flow.
    public func unsubscribeAll(slot: Int32) {
        withRunner { runner in runner.changeSubscriptions(by: index, slot: slot, mask: runner.table.byNF[index], on: false) }
    }

    /// Turns on this NF's subscriptions that start off (the dynamic ones) for one flow.
    public func subscribeDynamic(slot: Int32) {
        withRunner { runner in
            runner.changeSubscriptions(by: index, slot: slot, mask: runner.table.byNF[index] & ~runner.table.initial, on: true)
        }
    }

    /// Changes another NF's subscriptions for one flow (e.g. DPI handing a flow over).
    public func setSubscriptions(of nf: String, to type: EventTypeID, slot: Int32, on: Bool) {
        guard let other = withRunner({ $0.index(of: nf) }) else { return }
        withRunner { $0.setSubscriptions(of: other, by: index, type: type, slot: slot, on: on) }
    }

    /// Drops the packet being processed; only NFs declared `may_drop` can.
    public func drop() {
        precondition(action != .readOnly, "\(name) is read-only and cannot drop packets")
        withRunner { $0.drop(by: index) }
    }

    /// Answers the packet being processed as a `reject` rule does, once the chain is done
    /// with it: a RST to a TCP packet's sender, an ICMP unreachable otherwise.
    public func reject() { withRunner { $0.reject() } }

    /// Picks the backend for the request of a `FLOW_REQ` event; the TCP Splicer connects
    /// to it once the chain is done with the packet. Without a pick the client gets a RST.
    public func chooseBackend(for event: Event, address: IPAddress, port: UInt16) {
        withRunner { $0.choose(BackendChoice(slot: event.slot, flowID: event.flowID, address: address, port: port)) }
    }

    /// Replaces bytes `range` of a `BYTESTREAM` event's chunk (offsets within the chunk)
    /// with `bytes` — an empty range inserts, empty `bytes` delete. The Split Proxy sends
    /// the chunk on rewritten; edits that overlap another are refused (counted).
    public func replaceStream(_ event: Event, range: Range<Int>, with bytes: some Collection<UInt8>) {
        withRunner { $0.editStream(chunk: Int(event.detail.index), length: event.dataLength, range: range, with: bytes) }
    }

    /// Keeps a `BYTESTREAM` chunk's bytes from `offset` on: they come again, with the bytes
    /// that follow, in the next event (ignored once the sender finished).
    public func holdStream(_ event: Event, from offset: Int) {
        withRunner { $0.holdStream(chunk: Int(event.detail.index), from: offset) }
    }

    /// Answers the request of a `FLOW_REQ` event itself: on a `tcp_split_proxy` service the
    /// agent becomes the server (the TCP Endpoint) — the client gets `bytes`, then a FIN
    /// when `close`; no backend is connected. Takes precedence over `chooseBackend`.
    public func respond(to event: Event, with bytes: [UInt8], close: Bool = true) {
        withRunner { $0.respond(StackResponse(slot: event.slot, flowID: event.flowID, bytes: bytes, close: close)) }
    }

    /// The event's flow, oriented client → server.
    public func flowKey(of event: Event) -> FlowKey { withRunner { $0.flowKey(slot: event.slot, flowID: event.flowID) } }

    /// The flow now in `slot` (during `flowStarted`, the new one).
    public func flowKey(slot: Int32) -> FlowKey {
        withRunner { runner in runner.flowKey(slot: slot, flowID: runner.currentFlowID(slot)) }
    }
}

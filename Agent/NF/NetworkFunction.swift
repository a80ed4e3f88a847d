import MBoxEvents

/// What an NF may do to the packets it sees. Read-only NFs may run in parallel with
/// each other; one that may drop or modify orders the NFs after it.
public enum NFAction: String, Sendable {
    case readOnly = "read_only"
    case mayDrop = "may_drop"
    case mayModify = "may_modify"
}

/// A network function: it receives the events it subscribed to, may publish its own,
/// may change its (or another NF's) subscriptions per flow, and may drop packets when
/// its action allows.
///
/// NFs keep per-flow state in storage indexed by flow slot, sized in `attach(_:)`;
/// `flowStarted`/`flowEnded` bracket every flow whatever the NF subscribed to.
public protocol NetworkFunction: AnyObject {
    /// Called once, before any packet: the NF's place in the chain and its handle on it.
    func attach(_ context: NFContext)
    func flowStarted(slot: Int32)
    func flowEnded(slot: Int32)
    /// One event the NF subscribed to (on this flow, with this side and cause).
    func handle(_ event: Event)
    /// End of input: flush what is buffered.
    func finish()
}

extension NetworkFunction {
    public func flowStarted(slot: Int32) {}
    public func flowEnded(slot: Int32) {}
    public func finish() {}
}

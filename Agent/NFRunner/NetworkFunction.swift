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
    func attach(_ context: NFContext) throws
    func flowStarted(slot: Int32)
    func flowEnded(slot: Int32)
    /// One event the NF subscribed to (on this flow, with this side and cause).
    func handle(_ event: Event)
    /// End of input: flush what is buffered.
    func finish()
    /// `handle(_:)` on the NF at `object` (an unretained reference the caller keeps alive):
    /// the chain's per-event call, which skips the retain and release a call through a
    /// stored reference costs. The default is right for every NF.
    static func handle(_ event: Event, unretained object: UnsafeMutableRawPointer)
}

extension NetworkFunction {
    public func flowStarted(slot: Int32) {}
    public func flowEnded(slot: Int32) {}
    public func finish() {}

    @inline(__always)
    public static func handle(_ event: Event, unretained object: UnsafeMutableRawPointer) {
        Unmanaged<Self>.fromOpaque(object)._withUnsafeGuaranteedRef { $0.handle(event) }
    }
}

/// An NF held for per-event calls without reference counting; valid while the owner of
/// the NF (the chain's `functions`) lives.
struct UnretainedFunction {
    let type: any NetworkFunction.Type
    let object: UnsafeMutableRawPointer

    init(_ function: any NetworkFunction) {
        type = Swift.type(of: function)
        object = Unmanaged.passUnretained(function as AnyObject).toOpaque()
    }

    @inline(__always)
    func handle(_ event: Event) { type.handle(event, unretained: object) }
}

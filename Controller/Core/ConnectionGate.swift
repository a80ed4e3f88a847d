import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOSSL
import NIOTLS

/// How many connections the controller holds, and for how long a stranger may stay.
public struct ConnectionLimits: Sendable {
    /// A connection that has not finished its TLS handshake (so has shown no certificate
    /// of ours) by then is closed.
    public var handshakeTimeout: TimeAmount = .seconds(10)
    /// Connections still in their handshake, from one address and in all. Past either, the
    /// oldest such connection (of that address, or of all) makes way for the new one, so
    /// a flood cannot lock out a legitimate client that completes its handshake at once.
    /// (256 per address: a fleet behind one NAT address reconnects all at once after a
    /// restart; its agents retry, but each eviction costs a handshake.)
    public var unauthenticatedPerSource = 256
    public var unauthenticated = 1024
    /// Connections in all; past it new ones are closed as they are accepted. By default
    /// the descriptor limit less room for the store, logs and listeners.
    public var connections: Int
    /// Concurrent RPCs one connection may hold (an agent holds four, mboxctl one).
    public var streamsPerConnection = 64
    /// A connection with no RPC for this long is closed (agents always hold streams).
    public var idleTimeout: Duration = .seconds(300)

    /// Defaults for `descriptorLimit` open files.
    public init(descriptorLimit: Int = ConnectionLimits.raiseDescriptorLimit()) {
        connections = max(16, descriptorLimit - 256)
    }

    /// Raises this process's soft limit on open files to its hard limit; the limit now.
    public static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(min(limit.rlim_cur, 1 << 20))
    }
}

/// What the gate has done, for metrics and tests.
public struct ConnectionGateCounters: Sendable, Equatable {
    /// Open and not being closed by the gate.
    public var open = 0
    public var unauthenticated = 0
    public var accepted: UInt64 = 0
    /// Closed at accept: the controller held `connections` already.
    public var refused: UInt64 = 0
    /// Closed to make way for a newer unauthenticated connection.
    public var evicted: UInt64 = 0
    /// Closed for not finishing the handshake within `handshakeTimeout`.
    public var handshakeTimeouts: UInt64 = 0
    /// The most connections open at once.
    public var peak = 0
}

/// Admits accepted connections under `ConnectionLimits`: counts them open and in their
/// handshake (per source address and in all), evicts the oldest handshaking ones past the
/// caps, refuses past the total, and times handshakes out. Shared by every event loop.
public final class ConnectionGate: Sendable {
    public let limits: ConnectionLimits

    private struct Pending {
        let source: String
        let channel: any Channel
    }

    private struct State {
        var counters = ConnectionGateCounters()
        var pending: [ObjectIdentifier: Pending] = [:]
        var pendingBySource: [String: Int] = [:]
        /// Handshaking connections oldest first, per source and in all; entries of
        /// connections no longer pending are skipped when met.
        var order = FIFO()
        var orderBySource: [String: FIFO] = [:]
        /// Evicted or timed out, their close under way: no longer counted as open.
        var closing: Set<ObjectIdentifier> = []
    }

    private let state = NIOLockedValueBox(State())

    public init(limits: ConnectionLimits) { self.limits = limits }

    public var counters: ConnectionGateCounters { state.withLockedValue { $0.counters } }

    /// Called with each accepted connection (TLS handler already in its pipeline).
    func admit(_ channel: any Channel) -> EventLoopFuture<Void> {
        let source = channel.remoteAddress?.ipAddress ?? "?"
        let id = ObjectIdentifier(channel)
        var victims: [any Channel] = []
        let admitted: Bool = state.withLockedValue { state in
            state.counters.accepted += 1
            if state.pendingBySource[source, default: 0] >= limits.unauthenticatedPerSource,
               let oldest = Self.popOldest(&state, source: source) {
                victims.append(oldest)
            }
            // Past either cap a stranger makes way; only certificate holders are never evicted.
            while state.counters.unauthenticated >= limits.unauthenticated || state.counters.open >= limits.connections,
                  let oldest = Self.popOldest(&state, source: nil) {
                victims.append(oldest)
            }
            state.counters.evicted += UInt64(victims.count)
            guard state.counters.open < limits.connections else {
                state.counters.refused += 1
                return false
            }
            state.counters.open += 1
            state.counters.peak = max(state.counters.peak, state.counters.open)
            state.counters.unauthenticated += 1
            state.pending[id] = Pending(source: source, channel: channel)
            state.pendingBySource[source, default: 0] += 1
            state.order.push(id)
            state.orderBySource[source, default: FIFO()].push(id)
            return true
        }
        for victim in victims { victim.close(promise: nil) }
        guard admitted else {
            channel.close(promise: nil)
            return channel.eventLoop.makeSucceededVoidFuture()
        }
        // After the TLS handler, which tells of the handshake's end.
        return channel.eventLoop.makeCompletedFuture {
            let operations = channel.pipeline.syncOperations
            let tls = try operations.handler(type: NIOSSLServerHandler.self)
            try operations.addHandler(GateHandler(gate: self, id: id), position: .after(tls))
        }
    }

    /// Removes the oldest still-pending connection (of `source`, or of all) and returns it.
    private static func popOldest(_ state: inout State, source: String?) -> (any Channel)? {
        while true {
            let next: ObjectIdentifier?
            if let source { next = state.orderBySource[source]?.pop() } else { next = state.order.pop() }
            guard let id = next else { return nil }
            if let pending = removePending(&state, id) {
                state.closing.insert(id)
                state.counters.open -= 1
                return pending.channel
            }
        }
    }

    private static func removePending(_ state: inout State, _ id: ObjectIdentifier) -> Pending? {
        guard let pending = state.pending.removeValue(forKey: id) else { return nil }
        state.counters.unauthenticated -= 1
        let left = state.pendingBySource[pending.source, default: 1] - 1
        state.pendingBySource[pending.source] = left == 0 ? nil : left
        if left == 0 { state.orderBySource[pending.source] = nil }
        if state.pending.isEmpty { state.order = FIFO() }
        return pending
    }

    fileprivate func handshakeCompleted(_ id: ObjectIdentifier) {
        state.withLockedValue { _ = Self.removePending(&$0, id) }
    }

    fileprivate func handshakeTimedOut(_ id: ObjectIdentifier) -> Bool {
        state.withLockedValue { state in
            guard Self.removePending(&state, id) != nil else { return false }
            state.closing.insert(id)
            state.counters.open -= 1
            state.counters.handshakeTimeouts += 1
            return true
        }
    }

    fileprivate func closed(_ id: ObjectIdentifier) {
        state.withLockedValue { state in
            if state.closing.remove(id) != nil { return }
            _ = Self.removePending(&state, id)
            state.counters.open -= 1
        }
    }
}

/// One connection's watch: its handshake deadline, and its end.
private final class GateHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let gate: ConnectionGate
    let id: ObjectIdentifier
    var deadline: Scheduled<Void>?

    init(gate: ConnectionGate, id: ObjectIdentifier) {
        self.gate = gate
        self.id = id
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let channel = context.channel
        let (gate, id) = (self.gate, self.id)
        deadline = context.eventLoop.scheduleTask(in: gate.limits.handshakeTimeout) {
            if gate.handshakeTimedOut(id) { channel.close(promise: nil) }
        }
        channel.closeFuture.whenComplete { _ in gate.closed(id) }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent, case .handshakeCompleted = event {
            deadline?.cancel()
            deadline = nil
            gate.handshakeCompleted(id)
        }
        context.fireUserInboundEventTriggered(event)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
    }
}

/// A queue of connection ids, amortised O(1).
private struct FIFO {
    private var items: [ObjectIdentifier] = []
    private var head = 0

    mutating func push(_ id: ObjectIdentifier) { items.append(id) }

    mutating func pop() -> ObjectIdentifier? {
        guard head < items.count else { return nil }
        let id = items[head]
        head += 1
        if head > 1024, head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
        return id
    }
}

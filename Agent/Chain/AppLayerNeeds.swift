import MBoxDetect
import MBoxEvents
import MBoxPacket
import MBoxRules

/// What a chain's application-layer stage parses: the protocols and buffers its detection
/// NFs' rules read, and everything of the protocols NFs subscribe to as `APP/…` events.
public struct AppLayerNeeds: Sendable, Equatable {
    public var protocols: Set<AppLayerProtocol>
    public var buffers: BufferMask

    /// Nil when no NF reads application data (the chain runs no stage).
    init?(detection: [DetectionNeeds], subscriptions: [Subscription], types: EventTypes) {
        protocols = []
        buffers = BufferMask()
        var needed = false
        for needs in detection where !needs.appProtocols.isEmpty {
            needed = true
            protocols.formUnion(needs.parsedProtocols)
            buffers.bits |= needs.buffers.bits
        }
        for subscription in subscriptions where types.isA(subscription.type, .app) {
            needed = true
            buffers = .all
            let families: [(EventTypeID, AppLayerProtocol)] = [(.appHTTP, .http), (.appTLS, .tls), (.appDNS, .dns), (.appSSH, .ssh)]
            let named = families.filter { types.isA(subscription.type, $0.0) }.map(\.1)
            protocols.formUnion(named.isEmpty ? families.map(\.1) : named)
        }
        guard needed else { return nil }
    }
}

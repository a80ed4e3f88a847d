import MBoxEvents
import MBoxFlow
import MBoxRules

/// An alert as a worker hands it off the packet path: plain values, formatted (addresses
/// as text, protobuf, JSON) by the thread that drains the ring, never by the worker.
public struct AlertRecord: Sendable {
    /// Nanoseconds since the epoch.
    public var timestamp: UInt64
    public var flowID: UInt64
    public var key: FlowKey
    /// The packet went from the flow's client to its server (the alert's source is the client).
    public var toServer: Bool
    public var sid: UInt32
    public var gid: UInt32
    public var rev: UInt32
    public var signature: String
    public var category: String
    public var severity: Int
    /// EVE's `alert.action`: "allowed" or "blocked".
    public var action: String
    /// The chain that raised it and the config version it ran.
    public var chain: String
    public var configVersion: UInt64

    public init(timestamp: UInt64, flowID: UInt64, key: FlowKey, toServer: Bool, sid: UInt32, gid: UInt32 = 1, rev: UInt32 = 1,
                signature: String, category: String = "", severity: Int = 3, action: String = "allowed", chain: String = "",
                configVersion: UInt64 = 0) {
        self.timestamp = timestamp
        self.flowID = flowID
        self.key = key
        self.toServer = toServer
        self.sid = sid
        self.gid = gid
        self.rev = rev
        self.signature = signature
        self.category = category
        self.severity = severity
        self.action = action
        self.chain = chain
        self.configVersion = configVersion
    }

    /// An `IDS_ALERT` event raised by `rule` about `key`'s flow.
    public init(alert event: Event, rule: Rule, key: FlowKey, chain: String, configVersion: UInt64) {
        self.init(timestamp: event.timestamp, flowID: event.flowID, key: key, toServer: event.cause == .client, sid: rule.sid,
                  gid: rule.gid, rev: rule.rev, signature: rule.message, category: rule.category, severity: rule.priority,
                  action: rule.action == .drop || rule.action == .reject ? "blocked" : "allowed", chain: chain,
                  configVersion: configVersion)
    }
}

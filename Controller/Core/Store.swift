import MBoxProto

/// What the controller knows of an agent.
public struct AgentRecord: Sendable, Equatable {
    public var name: String
    public var labels: [String: String] = [:]
    public var capabilities: [String] = []
    public var softwareVersion = ""
    public var lastSeenMilliseconds: Int64 = 0
    /// The chain placement gives it now, and the config version that carries it.
    public var chain = ""
    public var desiredVersion: UInt64 = 0
    public var appliedVersion: UInt64 = 0
    public var applyError = ""
    public var stats = Mbox_V1_AgentStats()

    public init(name: String) { self.name = name }
}

/// The result of storing a batch of alerts.
public struct AlertInsertion: Sendable {
    /// Alerts new to the store, in the batch's order.
    public var stored: [Mbox_V1_Alert] = []
    /// Alerts the store already had (same agent and sequence).
    public var duplicates = 0
}

/// The controller's durable state: chains, agents, config versions and alerts. SQLite
/// (`SQLiteStore`) by default; a shared PostgreSQL store for several controller replicas
/// implements the same protocol.
public protocol ControlStore: Sendable {
    /// The revision counter: bumped by every chain change, never reused.
    func nextRevision() throws -> UInt64

    func chains() throws -> [Mbox_V1_ChainRecord]
    func putChain(_ record: Mbox_V1_ChainRecord) throws
    /// Whether a chain of that name existed.
    func deleteChain(named name: String) throws -> Bool

    func agents() throws -> [AgentRecord]
    func agent(named name: String) throws -> AgentRecord?
    func putAgent(_ record: AgentRecord) throws
    /// Several agents in one transaction.
    func putAgents(_ records: [AgentRecord]) throws

    /// Stores a batch in one transaction; an alert whose (agent, sequence) is already
    /// stored is skipped, so a batch resent after a cut is stored once.
    func insertAlerts(_ alerts: [Mbox_V1_Alert], agent: String) throws -> AlertInsertion
    /// Alerts matching the query, oldest first.
    func alerts(matching query: Mbox_V1_AlertQuery) throws -> [Mbox_V1_Alert]
    func alertCount() throws -> Int
}

extension Mbox_V1_AlertQuery {
    /// Whether `alert` passes every filter set in the query (for live follows).
    public func matches(_ alert: Mbox_V1_Alert) -> Bool {
        if !agent.isEmpty, alert.agent != agent { return false }
        if sid != 0, alert.sid != sid { return false }
        if sinceUnixUs != 0, alert.timestampUs < sinceUnixUs { return false }
        if untilUnixUs != 0, alert.timestampUs > untilUnixUs { return false }
        if !ip.isEmpty, alert.flow.srcIp != ip, alert.flow.destIp != ip { return false }
        return true
    }
}

import MBoxControlPlane
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

/// The controller's durable state: chains, agents, config versions, alerts and the audit
/// log. SQLite (`SQLiteStore`) by default, embedded; PostgreSQL (`PostgresStore`) for a
/// database server that several controller replicas share.
public protocol ControlStore: Sendable {
    /// The revision counter: bumped by every chain change, never reused.
    func nextRevision() async throws -> UInt64

    func chains() async throws -> [Mbox_V1_ChainRecord]
    func putChain(_ record: Mbox_V1_ChainRecord) async throws
    /// Whether a chain of that name existed.
    func deleteChain(named name: String) async throws -> Bool

    func agents() async throws -> [AgentRecord]
    func agent(named name: String) async throws -> AgentRecord?
    func putAgent(_ record: AgentRecord) async throws
    /// Several agents in one transaction.
    func putAgents(_ records: [AgentRecord]) async throws
    /// What agents reported (last seen, applied version and error, statistics, software),
    /// leaving their placement (labels, chain, desired version) as stored: another replica
    /// may have just changed it.
    func putReports(_ records: [AgentRecord]) async throws

    /// Stores a batch in one transaction; an alert whose (agent, sequence) is already
    /// stored is skipped, so a batch resent after a cut is stored once.
    func insertAlerts(_ alerts: [Mbox_V1_Alert], agent: String) async throws -> AlertInsertion
    /// One page of the newest alerts matching the query (see `AlertPage`).
    func alerts(matching query: Mbox_V1_AlertQuery) async throws -> AlertPage
    func alertCount() async throws -> Int
    /// Removes alerts older than `olderThanUnixUs` (when given) and all but the newest
    /// `keepingNewest` stored (when given), a bounded batch at a time; how many went.
    func pruneAlerts(olderThanUnixUs: Int64?, keepingNewest: Int?) async throws -> Int

    /// Operators' changes, kept for good.
    func appendAudit(_ entry: Mbox_V1_AuditEntry) async throws
    /// The newest `limit` entries, oldest first.
    func audit(limit: Int) async throws -> [Mbox_V1_AuditEntry]

    // History the console shows (see `History.swift`).

    /// Records what an apply or delete made a chain (rule texts left out).
    func appendRevision(_ revision: Mbox_V1_ChainRevision, chain: String) async throws
    /// The newest `limit` revisions of a chain, oldest first.
    func revisions(chain: String, limit: Int) async throws -> [Mbox_V1_ChainRevision]
    /// Agents' statistics at a moment, a row each.
    func appendSamples(_ samples: [AgentSampleRow]) async throws
    /// An agent's samples from `sinceMs` on, oldest first.
    func samples(agent: String, sinceMs: Int64) async throws -> [Mbox_V1_AgentSample]
    /// Removes samples older than `beforeMs`; how many went.
    func pruneSamples(beforeMs: Int64) async throws -> Int
    /// Stores a console token by its SHA-256 (the token itself is never stored).
    func putConsoleToken(_ token: ConsoleTokenRecord) async throws
    /// The token whose SHA-256 is `hash`, if stored and not expired at `nowMs`.
    func consoleToken(hash: String, nowMs: Int64) async throws -> ConsoleTokenRecord?
    /// Removes tokens expired before `beforeMs`.
    func pruneConsoleTokens(beforeMs: Int64) async throws

    // Replicas: several controllers on one store.

    /// Whether other controllers may share this store.
    var isShared: Bool { get }
    /// Holds the store-wide lock on chains and placement until `releaseChangeLock()`, so a
    /// placement is decided once, by one controller, on the state all of them see.
    func acquireChangeLock() async throws
    func releaseChangeLock() async
    /// Tells the other controllers that chains or placement changed.
    func announceChange() async throws
    /// One element per change another controller announced (or a reconnection, after which
    /// changes may have been missed); finishes only when the store closes.
    func changes() -> AsyncStream<Void>
    /// Batches of alerts other controllers stored, as they commit (for live follows on any
    /// replica); `listening` is called each time the feed is (re)established. Ends when the
    /// caller stops iterating or the store closes.
    func othersAlerts(listening: @escaping @Sendable () -> Void) -> AsyncStream<[Mbox_V1_Alert]>
}

extension ControlStore {
    public var isShared: Bool { false }
    public func acquireChangeLock() async throws {}
    public func releaseChangeLock() async {}
    public func announceChange() async throws {}
    public func changes() -> AsyncStream<Void> { AsyncStream { $0.finish() } }
    public func othersAlerts(listening: @escaping @Sendable () -> Void) -> AsyncStream<[Mbox_V1_Alert]> {
        AsyncStream { $0.finish() }
    }
}

extension ControlStore {
    /// Every alert the query's limit asks for, page after page, oldest first.
    public func allAlerts(matching query: Mbox_V1_AlertQuery) async throws -> [Mbox_V1_Alert] {
        var query = query
        var remaining = AlertPage.Plan(query).wanted
        var pages: [[Mbox_V1_Alert]] = []
        while remaining > 0 {
            query.limit = UInt32(remaining)
            let page = try await alerts(matching: query)
            pages.append(page.alerts)
            remaining -= page.alerts.count
            guard let next = page.next, !page.alerts.isEmpty else { break }
            query.page = next.token
        }
        return pages.reversed().flatMap { $0 }
    }
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

/// Where a page of alerts ended: the oldest alert it holds, by (timestamp, store id).
public struct AlertCursor: Sendable, Equatable {
    public var timestampUs: Int64
    public var id: Int64

    public init(timestampUs: Int64, id: Int64) {
        self.timestampUs = timestampUs
        self.id = id
    }

    /// The opaque `page` token operators pass back.
    public var token: String { "\(timestampUs).\(id)" }

    public init?(token: String) {
        let parts = token.split(separator: ".")
        guard parts.count == 2, let timestamp = Int64(parts[0]), let id = Int64(parts[1]) else { return nil }
        self.init(timestampUs: timestamp, id: id)
    }
}

/// A page of an alert query: the newest matches below the query's page cursor, at most
/// `maximumAlerts` and `maximumBytes`, returned oldest first; `next` set when the query's
/// limit asks for more than came back and older matches may remain.
public struct AlertPage: Sendable {
    public var alerts: [Mbox_V1_Alert] = []
    public var next: AlertCursor?

    public static let maximumAlerts = 10_000
    /// Half the message limit: the rest of a response stays far from it.
    public static let maximumBytes = ControlLimits.maximumMessageBytes / 2

    /// How many rows a store fetches for a query, and how it cuts them into a page.
    public struct Plan: Sendable {
        /// What the query's limit asks for (1,000 by default; at most 1,000,000).
        public let wanted: Int
        public let fetch: Int

        public init(_ query: Mbox_V1_AlertQuery) {
            wanted = query.limit == 0 ? 1000 : Int(min(query.limit, 1_000_000))
            fetch = min(wanted, AlertPage.maximumAlerts)
        }

        /// The page from rows fetched newest first.
        public func page(newestFirst rows: [(Mbox_V1_Alert, AlertCursor)]) -> AlertPage {
            var page = AlertPage()
            var bytes = 0
            var cut = false
            for (alert, cursor) in rows {
                bytes += alert.estimatedBytes
                if bytes > AlertPage.maximumBytes, !page.alerts.isEmpty {
                    cut = true
                    break
                }
                page.alerts.append(alert)
                page.next = cursor
            }
            if !cut, !(rows.count == fetch && fetch < wanted) { page.next = nil }
            page.alerts.reverse()
            return page
        }
    }
}

extension Mbox_V1_Alert {
    /// About its encoded size, without encoding it.
    var estimatedBytes: Int {
        48 + signature.utf8.count + category.utf8.count + agent.utf8.count + chain.utf8.count + action.utf8.count
            + flow.srcIp.utf8.count + flow.destIp.utf8.count + flow.proto.utf8.count
    }
}

/// A store that cannot do what was asked, in words for the operator.
public struct StoreError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// How long alerts are kept: by age, by count, or both (nil: no limit).
public struct AlertRetention: Sendable {
    /// Seconds.
    public var maximumAge: Double?
    public var maximumCount: Int?
    /// How often the background pruning runs.
    public var interval: Duration = .seconds(60)

    public init(maximumAge: Double? = nil, maximumCount: Int? = nil) {
        self.maximumAge = maximumAge
        self.maximumCount = maximumCount
    }

    public var isUnlimited: Bool { maximumAge == nil && maximumCount == nil }

    /// Rows deleted per transaction while pruning, so ingest waits at most one batch.
    public static let pruneBatch = 20_000
}

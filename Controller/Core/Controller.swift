import Foundation
import GRPCCore
import Logging
import MBoxChain
import MBoxControlPlane
import MBoxProto
import Prometheus

/// The controller's logic, one change at a time: validates and stores chains, decides
/// which chain each agent runs (placement), versions each agent's config and pushes it
/// to connected agents, records what they applied, ingests alerts and feeds live follows.
public actor Controller {
    public nonisolated let store: any ControlStore
    let log = MBoxLogging.logger("mbox.controller")
    /// Operators' changes: who (certificate name and fingerprint), what, from where.
    let audit = MBoxLogging.logger("mbox.audit")
    private var watchers: [String: [UUID: AsyncStream<Mbox_V1_AgentConfig>.Continuation]] = [:]
    private var followers: [UUID: (Mbox_V1_AlertQuery, AsyncStream<Mbox_V1_Alert>.Continuation)] = [:]
    /// Agents as stored, read once; registrations and config versions are written through
    /// at once, applied reports and statistics within `flushDelay` (one transaction for
    /// all that arrived meanwhile — a thousand agents report at once after a push).
    private var agentCache: [String: AgentRecord]?
    private var unsaved: Set<String> = []
    private var flushScheduled = false
    static let flushDelay = Duration.milliseconds(100)
    /// The gate's counters as last reported (its counters go to Prometheus as increments).
    private var reportedConnections = ConnectionGateCounters()
    /// Whether a change to chains or placement is under way, and the changes waiting.
    private var changing = false
    private var changeWaiters: [CheckedContinuation<Void, Never>] = []
    /// Whether the change under way wrote chains or placement (other replicas are told).
    private var changedHere = false
    /// The task following other replicas' changes.
    private var feed: Task<Void, Never>?
    /// While anyone follows alerts on a shared store: the task feeding them the alerts other
    /// replicas store.
    private var othersFeed: Task<Void, Never>?
    private var othersFeedListening = false
    private var othersFeedWaiters: [CheckedContinuation<Void, Never>] = []
    /// When each agent's statistics were last sampled for the console, and the samples not
    /// yet stored (written with the reports; kept and retried if that fails).
    var lastSampleMs: [String: Int64] = [:]
    var unsavedSamples: [AgentSampleRow] = []

    /// Prometheus metrics: the controller's own counters, and each agent's latest report.
    public nonisolated let metrics = PrometheusCollectorRegistry()
    private let alertsStored: Counter
    private let alertsDuplicate: Counter
    private let configsPushed: Counter

    public init(store: any ControlStore) {
        self.store = store
        alertsStored = metrics.makeCounter(descriptor: .named("mbox_alerts_stored_total", "Alerts stored from all agents."))
        alertsDuplicate = metrics.makeCounter(descriptor: .named("mbox_alerts_duplicate_total", "Alerts received again after a cut and not stored twice."))
        configsPushed = metrics.makeCounter(descriptor: .named("mbox_configs_pushed_total", "Config versions pushed to connected agents."))
    }

    /// The metrics in Prometheus' text format, agents' gauges refreshed from their records,
    /// and the connection gate's counters when given.
    public func metricsText(connections: ConnectionGateCounters? = nil) async throws -> String {
        if let connections {
            func gauge(_ name: String, _ help: String, _ value: Int) {
                metrics.makeGauge(descriptor: .named(name, help), labels: []).set(to: Double(value))
            }
            func counter(_ name: String, _ help: String, _ path: KeyPath<ConnectionGateCounters, UInt64>) {
                let delta = connections[keyPath: path] - reportedConnections[keyPath: path]
                metrics.makeCounter(descriptor: .named(name, help), labels: []).increment(by: Int64(delta))
            }
            gauge("mbox_connections_open", "Connections open now.", connections.open)
            gauge("mbox_connections_handshaking", "Connections open now that have not finished their TLS handshake.",
                  connections.unauthenticated)
            gauge("mbox_connections_peak", "The most connections open at once.", connections.peak)
            counter("mbox_connections_accepted_total", "Connections accepted.", \.accepted)
            counter("mbox_connections_refused_total", "Connections closed at accept: the connection limit was reached.", \.refused)
            counter("mbox_connections_evicted_total", "Handshaking connections closed to make way for newer ones.", \.evicted)
            counter("mbox_connections_handshake_timeouts_total", "Connections closed for not finishing the TLS handshake in time.",
                    \.handshakeTimeouts)
            reportedConnections = connections
        }
        for agent in try await agentRecords().values {
            let labels = [("agent", agent.name)]
            func gauge(_ name: String, _ help: String, _ value: Double) {
                metrics.makeGauge(descriptor: .named(name, help), labels: labels).set(to: value)
            }
            gauge("mbox_agent_connected", "1 while the agent holds its config stream.", watchers[agent.name]?.isEmpty == false ? 1 : 0)
            gauge("mbox_agent_config_desired_version", "Config version placement gives the agent.", Double(agent.desiredVersion))
            gauge("mbox_agent_config_applied_version", "Config version the agent reported applied.", Double(agent.appliedVersion))
            gauge("mbox_agent_packets", "Packets the agent's data path has seen (its last report).", Double(agent.stats.packets))
            gauge("mbox_agent_bytes", "Bytes the agent's data path has seen (its last report).", Double(agent.stats.bytes))
            gauge("mbox_agent_flows", "Flows the agent has tracked (its last report).", Double(agent.stats.flows))
            gauge("mbox_agent_alerts", "Alerts the agent has raised (its last report).", Double(agent.stats.alerts))
            gauge("mbox_agent_dropped", "Packets the agent's chain dropped (its last report).", Double(agent.stats.dropped))
            gauge("mbox_agent_malformed", "Malformed packets the agent counted (its last report).", Double(agent.stats.malformed))
            gauge("mbox_agent_spool_pending", "Alerts spooled on the agent, not yet stored here.", Double(agent.stats.spoolPending))
            gauge("mbox_agent_port_missed", "Packets the agent's ports dropped before it read them (its last report).",
                  Double(agent.stats.portMissed))
            gauge("mbox_agent_port_no_mbuf", "Receives on the agent's ports that failed for want of an mbuf (its last report).",
                  Double(agent.stats.portNoMbuf))
            gauge("mbox_agent_last_seen_seconds", "When the agent was last heard from (Unix time).", Double(agent.lastSeenMilliseconds) / 1000)
        }
        return metrics.emitToString()
    }

    static var nowMilliseconds: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: Operators

    /// Validates `spec` with the agent's own compiler, checks that the config carrying it
    /// fits the message limit every party shares, stores it and pushes every agent whose
    /// config changes. Invalid or oversized specs throw `invalidArgument` with every
    /// problem, before anything is stored. Compiling (seconds for a large rule set) runs
    /// off the actor, so agents are served meanwhile; a caller that gave up by then (its
    /// deadline passed) stores nothing.
    /// `by`: who asks (recorded in the audit log with the outcome, refusals included);
    /// `abandoned` tells whether the caller has given up (its RPC was cancelled).
    public nonisolated func apply(_ spec: Mbox_V1_ChainSpec, by caller: OperatorCall = OperatorCall(name: "(in process)"),
                                  abandoned: @Sendable () -> Bool = { false }) async throws -> Mbox_V1_ApplyChainResponse {
        defer { Heap.returnFreePages() }
        do {
            let checked = try Self.check(spec)
            guard !abandoned(), !Task.isCancelled else {
                throw RPCError(code: .cancelled, message: "the caller gave up before chain '\(checked.name)' was checked; nothing was stored")
            }
            let response = try await exclusively { try await store(checked, by: caller) }
            await record(caller.entry(action: "apply", chain: checked.name, revision: response.revision, outcome: response.outcome))
            return response
        } catch {
            let reason = (error as? RPCError)?.message ?? "\(error)"
            await record(caller.entry(action: "apply", chain: spec.name, revision: 0,
                                      outcome: "refused: " + (reason.split(separator: "\n").first.map(String.init) ?? reason)))
            throw error
        }
    }

    /// Writes an audit entry to the store and the `mbox.audit` log.
    func record(_ entry: Mbox_V1_AuditEntry) async {
        audit.notice("\(entry.action) chain '\(entry.chain)': \(entry.outcome)", metadata: [
            "operator": "\(entry.operator)", "certificate_sha256": "\(entry.certificateSha256)", "peer": "\(entry.peer)",
            "revision": "\(entry.revision)"])
        do { try await store.appendAudit(entry) } catch { log.error("cannot store the audit entry above: \(error)") }
    }

    public func auditEntries(limit: Int) async throws -> [Mbox_V1_AuditEntry] { try await store.audit(limit: limit) }

    /// Runs changes to chains and placement one at a time: each reads the store and the
    /// agents, decides, and writes, with awaits in between that other calls may enter.
    ///
    /// On a store shared by replicas this also holds the store-wide change lock, first takes
    /// in what other replicas changed (pushing it to agents connected here), and afterwards
    /// tells them of its own changes.
    private func exclusively<T>(_ body: () async throws -> T) async throws -> T {
        while changing { await withCheckedContinuation { changeWaiters.append($0) } }
        changing = true
        defer {
            changing = false
            if !changeWaiters.isEmpty { changeWaiters.removeFirst().resume() }
        }
        guard store.isShared else { return try await body() }
        try await store.acquireChangeLock()
        do {
            try await takeRemoteChanges()
            changedHere = false
            let result = try await body()
            if changedHere { try await store.announceChange() }
            await store.releaseChangeLock()
            return result
        } catch {
            await store.releaseChangeLock()
            throw error
        }
    }

    /// Placement as stored (other replicas may have changed it): agents' labels, chain and
    /// desired version, their reports for agents not connected here; agents whose desired
    /// version changed and that watch here get their new config.
    private func takeRemoteChanges() async throws {
        let stored = try await store.agents()
        _ = try await agentRecords()
        var moved: [AgentRecord] = []
        for record in stored {
            guard var cached = agentCache?[record.name], watchers[record.name] != nil else {
                agentCache?[record.name] = record
                continue
            }
            let changed = cached.desiredVersion != record.desiredVersion || cached.chain != record.chain
            cached.labels = record.labels
            cached.capabilities = record.capabilities
            cached.chain = record.chain
            cached.desiredVersion = record.desiredVersion
            agentCache?[record.name] = cached
            if changed { moved.append(cached) }
        }
        guard !moved.isEmpty else { return }
        let chains = try await store.chains()
        for agent in moved {
            let update = try await config(for: agent, chains: chains)
            for continuation in (watchers[agent.name] ?? [:]).values { continuation.yield(update) }
            configsPushed.increment()
        }
    }

    /// Follows what other replicas change (shared stores only).
    private func followRemoteChanges() {
        guard store.isShared, feed == nil else { return }
        let changes = store.changes()
        feed = Task { [weak self] in
            for await _ in changes {
                guard let self else { return }
                do { try await self.exclusively {} } catch { await self.logRemoteFailure(error) }
            }
        }
    }

    private func logRemoteFailure(_ error: any Error) {
        log.error("cannot take in another replica's change (retried with the next): \(error)")
    }

    /// The spec as it will be stored (named, rule sizes filled), or why not.
    static func check(_ spec: Mbox_V1_ChainSpec) throws -> Mbox_V1_ChainSpec {
        var spec = spec
        for index in spec.ruleSets.indices { spec.ruleSets[index].bytes = UInt64(spec.ruleSets[index].text.utf8.count) }
        let size = try spec.configBytes()
        guard size <= ControlLimits.maximumMessageBytes else {
            throw RPCError(code: .invalidArgument, message: """
                chain '\(spec.name)' with its rule files is \(size) bytes as an agent's config; controller, agents \
                and mboxctl take at most \(ControlLimits.maximumMessageBytes) bytes a message
                """)
        }
        do {
            spec.name = try ChainSpecCompiler().compile(spec).definition.name
        } catch {
            throw RPCError(code: .invalidArgument, message: "\(error)")
        }
        return spec
    }

    private func store(_ spec: Mbox_V1_ChainSpec, by caller: OperatorCall) async throws -> Mbox_V1_ApplyChainResponse {
        var response = Mbox_V1_ApplyChainResponse()
        let existing = try await store.chains().first { $0.spec.name == spec.name }
        if let existing, existing.spec.yaml == spec.yaml, existing.spec.ruleSets == spec.ruleSets,
           existing.spec.selector == spec.selector {
            response.outcome = "unchanged"
            response.revision = existing.revision
            return response
        }
        var record = Mbox_V1_ChainRecord()
        record.spec = spec
        record.revision = try await store.nextRevision()
        record.updatedUnixMs = Self.nowMilliseconds
        try await store.putChain(record)
        try await store.appendRevision(caller.revision(record.revision, action: "apply", spec: spec.summarized), chain: spec.name)
        changedHere = true
        response.outcome = existing == nil ? "created" : "configured"
        response.revision = record.revision
        response.agents = try await replan(revision: record.revision)
        return response
    }

    public func delete(chain name: String, by caller: OperatorCall = OperatorCall(name: "(in process)")) async throws
        -> Mbox_V1_DeleteChainResponse {
        let response: Mbox_V1_DeleteChainResponse? = try await exclusively {
            guard try await store.deleteChain(named: name) else { return nil }
            changedHere = true
            var response = Mbox_V1_DeleteChainResponse()
            response.revision = try await store.nextRevision()
            try await store.appendRevision(caller.revision(response.revision, action: "delete", spec: nil), chain: name)
            response.agents = try await replan(revision: response.revision)
            return response
        }
        guard let response else {
            await record(caller.entry(action: "delete", chain: name, revision: 0, outcome: "refused: no such chain"))
            throw RPCError(code: .notFound, message: "no chain named '\(name)'")
        }
        await record(caller.entry(action: "delete", chain: name, revision: response.revision, outcome: "deleted"))
        return response
    }

    // MARK: Retention

    /// Prunes alerts past `retention` now; how many went.
    public nonisolated func prune(_ retention: AlertRetention) async throws -> Int {
        let cutoff = retention.maximumAge.map { Int64((Date().timeIntervalSince1970 - $0) * 1_000_000) }
        let removed = try await store.pruneAlerts(olderThanUnixUs: cutoff, keepingNewest: retention.maximumCount)
        if removed > 0 { log.info("retention: pruned \(removed) alerts") }
        return removed
    }

    /// Prunes every `retention.interval` until cancelled; failures are logged and retried.
    public nonisolated func pruneInBackground(_ retention: AlertRetention) async {
        while !Task.isCancelled {
            do { _ = try await prune(retention) } catch { log.error("retention: cannot prune alerts (retrying): \(error)") }
            try? await Task.sleep(for: retention.interval)
        }
    }

    public func chains() async throws -> [Mbox_V1_ChainRecord] { try await store.chains() }

    /// Chains for a listing: one (`name`) or all; rule files' text only when asked for
    /// one chain (each chain fits a message; all of them together may not).
    public func chains(_ request: Mbox_V1_ListChainsRequest) async throws -> [Mbox_V1_ChainRecord] {
        if request.withRules, request.name.isEmpty {
            throw RPCError(code: .invalidArgument, message: "rule files come with one chain at a time: name the chain")
        }
        var chains = try await store.chains().filter { request.name.isEmpty || $0.spec.name == request.name }
        if !request.name.isEmpty, chains.isEmpty { throw RPCError(code: .notFound, message: "no chain named '\(request.name)'") }
        if !request.withRules {
            for chain in chains.indices {
                for set in chains[chain].spec.ruleSets.indices {
                    chains[chain].spec.ruleSets[set].bytes = UInt64(chains[chain].spec.ruleSets[set].text.utf8.count)
                    chains[chain].spec.ruleSets[set].text = ""
                }
            }
        }
        return chains
    }

    public func agents() async throws -> [Mbox_V1_AgentInfo] {
        var records = try await agentRecords()
        if store.isShared {
            // Agents connected to other replicas: as those last stored them.
            for stored in try await store.agents() where watchers[stored.name] == nil { records[stored.name] = stored }
        }
        let now = Self.nowMilliseconds
        return records.values.sorted { $0.name < $1.name }.map { agent in
            var info = Mbox_V1_AgentInfo()
            info.name = agent.name
            info.labels = agent.labels
            info.capabilities = agent.capabilities
            // Here, or (replicas) reporting to another within the keepalive's reach.
            info.connected = !(watchers[agent.name]?.isEmpty ?? true) || (store.isShared && now - agent.lastSeenMilliseconds < 15_000)
            info.lastSeenUnixMs = agent.lastSeenMilliseconds
            info.chain = agent.chain
            info.desiredVersion = agent.desiredVersion
            info.appliedVersion = agent.appliedVersion
            info.applyError = agent.applyError
            info.stats = agent.stats
            info.softwareVersion = agent.softwareVersion
            return info
        }
    }

    /// Up to 100,000 of the newest alerts matching `query`, oldest first (a follow's backlog).
    public func alerts(_ query: Mbox_V1_AlertQuery) async throws -> [Mbox_V1_Alert] {
        var query = query
        query.limit = min(query.limit == 0 ? 1000 : query.limit, 100_000)
        return try await store.allAlerts(matching: query)
    }

    /// One page of a query: at most `AlertPage.maximumAlerts` alerts and half the message
    /// limit, the newest first chosen; `next_page` continues with older ones.
    public func alertPage(_ query: Mbox_V1_AlertQuery) async throws -> Mbox_V1_QueryAlertsResponse {
        let page = try await store.alerts(matching: query)
        var response = Mbox_V1_QueryAlertsResponse()
        response.alerts = page.alerts
        response.nextPage = page.next?.token ?? ""
        return response
    }

    /// New alerts matching `query` as they are stored. The stream ends if its reader falls
    /// more than `buffer` alerts behind (said, not silent: the caller sees the end).
    /// On a shared store this returns once other replicas' alerts are followed too (or after
    /// 3 s if the database cannot be reached: the feed keeps trying, and logs).
    public func follow(_ query: Mbox_V1_AlertQuery, buffer: Int = 65536) async -> (AsyncStream<Mbox_V1_Alert>, UUID) {
        let (stream, continuation) = AsyncStream.makeStream(of: Mbox_V1_Alert.self, bufferingPolicy: .bufferingOldest(buffer))
        let id = UUID()
        followers[id] = (query, continuation)
        if store.isShared {
            if othersFeed == nil {
                othersFeedListening = false
                let batches = store.othersAlerts { [weak self] in Task { await self?.othersFeedReady(true) } }
                othersFeed = Task { [weak self] in
                    for await batch in batches { await self?.tellFollowers(batch) }
                }
            }
            if !othersFeedListening {
                let timeout = Task { [weak self] in
                    try? await Task.sleep(for: .seconds(3))
                    await self?.othersFeedReady(false)
                }
                await withCheckedContinuation { othersFeedWaiters.append($0) }
                timeout.cancel()
            }
        }
        return (stream, id)
    }

    /// The feed of other replicas' alerts listens (`true`), or the wait for it is over.
    private func othersFeedReady(_ listening: Bool) {
        if listening { othersFeedListening = true }
        let waiters = othersFeedWaiters
        othersFeedWaiters = []
        waiters.forEach { $0.resume() }
    }

    public func unfollow(_ id: UUID) {
        followers.removeValue(forKey: id)?.1.finish()
        if followers.isEmpty {
            othersFeed?.cancel()
            othersFeed = nil
            othersFeedListening = false
        }
    }

    /// Gives each live follow the alerts in `batch` its query matches.
    private func tellFollowers(_ batch: [Mbox_V1_Alert]) {
        for alert in batch {
            for (id, (query, continuation)) in followers where query.matches(alert) {
                if case .dropped = continuation.yield(alert) { unfollow(id) }
            }
        }
    }

    /// Ends every config watch and alert follow (the server is stopping).
    public func closeStreams() async {
        do { try await flush() } catch { log.error("cannot store \(unsaved.count) agents' reports at shutdown: \(error)") }
        for continuation in watchers.values.flatMap(\.values) { continuation.finish() }
        watchers.removeAll()
        for (_, continuation) in followers.values { continuation.finish() }
        followers.removeAll()
        othersFeed?.cancel()
        othersFeed = nil
        feed?.cancel()
        feed = nil
    }

    // MARK: Agents

    public func register(_ agent: PeerIdentity, _ request: Mbox_V1_RegisterRequest) async throws -> Mbox_V1_RegisterResponse {
        try await exclusively {
            var record = try await agentRecords()[agent.name] ?? AgentRecord(name: agent.name)
            record.labels = request.labels
            record.capabilities = request.capabilities
            record.softwareVersion = request.softwareVersion
            record.lastSeenMilliseconds = Self.nowMilliseconds
            if request.runningVersion == record.desiredVersion { record.appliedVersion = request.runningVersion }
            try await save([record], now: true)
            // Labels may have changed what it should run.
            _ = try await replan(only: agent.name)
            var response = Mbox_V1_RegisterResponse()
            response.name = agent.name
            response.desiredVersion = try await agentRecords()[agent.name]?.desiredVersion ?? 0
            return response
        }
    }

    /// The agent's config now, then each change; ends when the agent goes away.
    public func watch(_ agent: String) async throws -> (AsyncStream<Mbox_V1_AgentConfig>, UUID) {
        followRemoteChanges()
        while true {
            guard let record = try await agentRecords()[agent] else {
                throw RPCError(code: .failedPrecondition, message: "agent '\(agent)' must register before watching its config")
            }
            let current = try await config(for: record)
            // A change placed while the config was read: read again (it was not pushed to us).
            guard agentCache?[agent]?.desiredVersion == current.version else { continue }
            let (stream, continuation) = AsyncStream.makeStream(of: Mbox_V1_AgentConfig.self, bufferingPolicy: .bufferingNewest(1))
            let id = UUID()
            watchers[agent, default: [:]][id] = continuation
            continuation.yield(current)
            return (stream, id)
        }
    }

    public func unwatch(_ agent: String, _ id: UUID) {
        watchers[agent]?.removeValue(forKey: id)?.finish()
        if watchers[agent]?.isEmpty == true { watchers[agent] = nil }
    }

    public func applied(_ agent: String, _ report: Mbox_V1_ReportAppliedRequest) async throws {
        guard var record = try await agentRecords()[agent] else { return }
        if report.ok {
            record.appliedVersion = report.version
            record.applyError = ""
        } else {
            record.applyError = "version \(report.version): \(report.error)"
        }
        record.lastSeenMilliseconds = Self.nowMilliseconds
        try await save([record], now: false)
    }

    public func stats(_ agent: String, _ stats: Mbox_V1_AgentStats) async throws {
        guard var record = try await agentRecords()[agent] else { return }
        record.stats = stats
        record.lastSeenMilliseconds = Self.nowMilliseconds
        sample(agent, stats, at: record.lastSeenMilliseconds)
        try await save([record], now: false)
    }

    private func agentRecords() async throws -> [String: AgentRecord] {
        if let agentCache { return agentCache }
        let loaded = Dictionary(try await store.agents().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        // Another call may have loaded (and changed) it while this one waited.
        if let agentCache { return agentCache }
        agentCache = loaded
        return loaded
    }

    private func save(_ records: [AgentRecord], now: Bool) async throws {
        _ = try await agentRecords()
        for record in records { agentCache![record.name] = record }
        if now {
            try await store.putAgents(records)
            unsaved.subtract(records.filter { agentCache?[$0.name] == $0 }.map(\.name))
        } else {
            unsaved.formUnion(records.map(\.name))
            scheduleFlush()
        }
    }

    private func scheduleFlush(after delay: Duration = Controller.flushDelay) {
        guard !flushScheduled else { return }
        flushScheduled = true
        Task {
            try? await Task.sleep(for: delay)
            await self.flushOrRetry()
        }
    }

    /// A failed write keeps its updates and is tried again a second later (logged).
    private func flushOrRetry() async {
        do {
            try await flush()
        } catch {
            log.error("cannot store \(unsaved.count) agents' reports (retrying in 1 s): \(error)")
            scheduleFlush(after: .seconds(1))
        }
    }

    /// Writes the agent updates not yet stored; they stay queued if the write fails.
    public func flush() async throws {
        flushScheduled = false
        let records = unsaved.compactMap { agentCache?[$0] }
        try await store.putReports(records)
        try await storeSamples()
        // Only what was written: a record changed meanwhile stays queued.
        unsaved.subtract(records.filter { agentCache?[$0.name] == $0 }.map(\.name))
    }

    /// Stores a batch from `agent` (one transaction) and tells live follows.
    public func ingest(_ agent: String, _ alerts: [Mbox_V1_Alert]) async throws -> Mbox_V1_AlertAck {
        let insertion = try await store.insertAlerts(alerts, agent: agent)
        var ack = Mbox_V1_AlertAck()
        ack.throughSequence = alerts.map(\.sequence).max() ?? 0
        ack.stored = UInt32(insertion.stored.count)
        ack.duplicates = UInt32(insertion.duplicates)
        alertsStored.increment(by: Int64(insertion.stored.count))
        alertsDuplicate.increment(by: Int64(insertion.duplicates))
        tellFollowers(insertion.stored)
        return ack
    }

    // MARK: Placement

    /// The chain an agent with these labels runs: of the chains whose placement selects
    /// it, the first by name (so the choice does not depend on the order of applies).
    static func placement(_ labels: [String: String], among chains: [Mbox_V1_ChainRecord]) -> Mbox_V1_ChainRecord? {
        chains.filter { $0.spec.selects(labels) }.min { $0.spec.name < $1.spec.name }
    }

    func config(for agent: AgentRecord, chains: [Mbox_V1_ChainRecord]? = nil) async throws -> Mbox_V1_AgentConfig {
        var config = Mbox_V1_AgentConfig()
        config.version = agent.desiredVersion
        let all: [Mbox_V1_ChainRecord]
        if let chains { all = chains } else { all = try await store.chains() }
        if let chain = Self.placement(agent.labels, among: all), chain.spec.name == agent.chain {
            config.chain = chain.spec
        }
        return config
    }

    /// Recomputes every agent's (or one agent's) chain; agents whose chain or chain
    /// revision changed get a new config version, stored and pushed at once. Returns them.
    /// Callers hold `exclusively`.
    private func replan(revision: UInt64? = nil, only name: String? = nil) async throws -> [String] {
        let chains = try await store.chains()
        var moves: [(agent: String, chain: String)] = []
        for agent in try await agentRecords().values.sorted(by: { $0.name < $1.name }) where name == nil || agent.name == name {
            let chain = Self.placement(agent.labels, among: chains)
            let chainName = chain?.spec.name ?? ""
            guard chainName != agent.chain || (chain?.revision ?? 0) > agent.desiredVersion else { continue }
            moves.append((agent.name, chainName))
        }
        guard !moves.isEmpty else { return [] }
        var version = revision
        if version == nil { version = try await store.nextRevision() }
        // Applied to the records as they are now (reports may have come in meanwhile).
        let changed = moves.compactMap { move -> AgentRecord? in
            guard var agent = agentCache?[move.agent] else { return nil }
            agent.chain = move.chain
            agent.desiredVersion = version!
            return agent
        }
        // Stored in one transaction, then pushed: a pushed version is always a stored one.
        try await save(changed, now: true)
        changedHere = true
        for agent in changed {
            guard let watching = watchers[agent.name] else { continue }
            let update = try await config(for: agent, chains: chains)
            for continuation in watching.values { continuation.yield(update) }
            configsPushed.increment()
        }
        return changed.map(\.name)
    }
}

extension MetricNameDescriptor {
    /// A metric named whole (its unit already in `name`, as `_total`).
    static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}

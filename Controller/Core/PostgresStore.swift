import Foundation
import Logging
import MBoxControlPlane
import MBoxProto
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import SwiftProtobuf

/// `ControlStore` on a PostgreSQL server (postgres-nio, pooled connections), for controller
/// replicas sharing one database. Same schema and semantics as `SQLiteStore`: chains and
/// agent statistics as protobuf bytes, alerts as columns unique by (agent, spool, sequence),
/// inserted many rows per statement.
public final class PostgresStore: ControlStore {
    let client: PostgresClient
    /// For the connections kept outside the pool (the change lock, the change feed).
    private let connectionConfiguration: PostgresConnection.Configuration
    private let running: Task<Void, Never>
    let log = MBoxLogging.logger("mbox.store.postgres")
    /// What `description` shows (no password).
    public let location: String

    /// Connects to `url` (`postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`, or with
    /// `?host=/socket/directory` for a Unix socket) and migrates the schema (under an
    /// advisory lock, so replicas starting together migrate once).
    public init(url: String) async throws {
        let target = try PostgresTarget(url)
        location = target.description
        var configuration: PostgresClient.Configuration
        if let socket = target.socketPath {
            configuration = .init(unixSocketPath: socket, username: target.user, password: target.password, database: target.database)
        } else {
            configuration = .init(host: target.host, port: target.port, username: target.user, password: target.password,
                                  database: target.database, tls: .disable)
        }
        configuration.options.maximumConnections = 8
        configuration.options.connectTimeout = .seconds(5)
        client = PostgresClient(configuration: configuration)
        if let socket = target.socketPath {
            connectionConfiguration = .init(unixSocketPath: socket, username: target.user, password: target.password, database: target.database)
        } else {
            connectionConfiguration = .init(host: target.host, port: target.port, username: target.user, password: target.password,
                                            database: target.database, tls: .disable)
        }
        let client = self.client
        running = Task { await client.run() }
        do {
            try await migrate()
        } catch {
            running.cancel()
            throw StoreError("PostgreSQL at \(target): \(String(reflecting: error))")
        }
    }

    deinit { close() }

    /// Stops the connection pool and the change feed.
    public func close() {
        running.cancel()
        listeners.withLockedValue { $0.forEach { $0.cancel() } }
        let holder = lockHolder
        Task { await holder.discard() }
    }

    // MARK: Schema

    static let migrations: [(Int, String)] = [
        (1, """
            CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
            INSERT INTO meta VALUES ('revision', 0);
            CREATE TABLE chains (name TEXT PRIMARY KEY, record BYTEA NOT NULL);
            CREATE TABLE agents (
                name TEXT PRIMARY KEY, labels TEXT NOT NULL, capabilities TEXT NOT NULL, software TEXT NOT NULL,
                last_seen_ms BIGINT NOT NULL, chain TEXT NOT NULL, desired_version BIGINT NOT NULL,
                applied_version BIGINT NOT NULL, apply_error TEXT NOT NULL, stats BYTEA NOT NULL);
            CREATE TABLE alerts (
                id BIGSERIAL PRIMARY KEY, agent TEXT NOT NULL, spool_id BIGINT NOT NULL, sequence BIGINT NOT NULL,
                timestamp_us BIGINT NOT NULL, sid BIGINT NOT NULL, gid BIGINT NOT NULL, rev BIGINT NOT NULL, signature TEXT NOT NULL,
                category TEXT NOT NULL, severity BIGINT NOT NULL, action TEXT NOT NULL,
                src_ip TEXT NOT NULL, src_port INTEGER NOT NULL, dest_ip TEXT NOT NULL, dest_port INTEGER NOT NULL,
                proto TEXT NOT NULL, flow_id BIGINT NOT NULL, chain TEXT NOT NULL, config_version BIGINT NOT NULL,
                UNIQUE (agent, spool_id, sequence));
            CREATE INDEX alerts_time ON alerts (timestamp_us, id);
            CREATE INDEX alerts_agent_time ON alerts (agent, timestamp_us, id);
            CREATE INDEX alerts_sid_time ON alerts (sid, timestamp_us, id);
            CREATE INDEX alerts_src_time ON alerts (src_ip, timestamp_us, id);
            CREATE INDEX alerts_dest_time ON alerts (dest_ip, timestamp_us, id);
            CREATE TABLE audit (
                id BIGSERIAL PRIMARY KEY, time_ms BIGINT NOT NULL, operator TEXT NOT NULL, certificate_sha256 TEXT NOT NULL,
                peer TEXT NOT NULL, action TEXT NOT NULL, chain TEXT NOT NULL, revision BIGINT NOT NULL, outcome TEXT NOT NULL);
            """),
        (2, """
            CREATE TABLE chain_revisions (chain TEXT NOT NULL, revision BIGINT NOT NULL, record BYTEA NOT NULL,
                                          PRIMARY KEY (chain, revision));
            CREATE TABLE agent_samples (agent TEXT NOT NULL, time_ms BIGINT NOT NULL, stats BYTEA NOT NULL);
            CREATE INDEX agent_samples_time ON agent_samples (agent, time_ms);
            CREATE INDEX agent_samples_age ON agent_samples (time_ms);
            CREATE TABLE console_tokens (hash TEXT PRIMARY KEY, operator TEXT NOT NULL, certificate_sha256 TEXT NOT NULL,
                                         expires_ms BIGINT NOT NULL);
            """),
    ]

    /// Applies the migrations not yet applied, each in its transaction.
    private func migrate() async throws {
        try await client.withTransaction(logger: log) { connection in
            // One replica at a time (released with the transaction).
            try await connection.query("SELECT pg_advisory_xact_lock(7423001)", logger: log)
            try await connection.query("CREATE TABLE IF NOT EXISTS mbox_schema (version INTEGER PRIMARY KEY)", logger: log)
            var applied = Set<Int>()
            for try await version in try await connection.query("SELECT version FROM mbox_schema", logger: log).decode(Int.self) {
                applied.insert(version)
            }
            for (version, sql) in Self.migrations where !applied.contains(version) {
                for statement in sql.split(separator: ";").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }) where !statement.isEmpty {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: log)
                }
                try await connection.query("INSERT INTO mbox_schema (version) VALUES (\(version))", logger: log)
            }
        }
    }

    // MARK: Chains and revisions

    public func nextRevision() async throws -> UInt64 {
        let rows = try await client.query("UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value", logger: log)
        for try await value in rows.decode(Int64.self) { return UInt64(value) }
        throw StoreError("the revision counter is missing")
    }

    public func chains() async throws -> [Mbox_V1_ChainRecord] {
        var records: [Mbox_V1_ChainRecord] = []
        for try await bytes in try await client.query("SELECT record FROM chains ORDER BY name", logger: log).decode(Data.self) {
            records.append(try Mbox_V1_ChainRecord(serializedBytes: bytes))
        }
        return records
    }

    public func putChain(_ record: Mbox_V1_ChainRecord) async throws {
        let blob: Data = try record.serializedBytes()
        try await client.query("""
            INSERT INTO chains (name, record) VALUES (\(record.spec.name), \(blob))
            ON CONFLICT (name) DO UPDATE SET record = EXCLUDED.record
            """, logger: log)
    }

    public func deleteChain(named name: String) async throws -> Bool {
        let rows = try await client.query("DELETE FROM chains WHERE name = \(name) RETURNING name", logger: log)
        for try await _ in rows.decode(String.self) { return true }
        return false
    }

    // MARK: Agents

    public func agents() async throws -> [AgentRecord] {
        try await agentRows("SELECT name, labels, capabilities, software, last_seen_ms, chain, desired_version, applied_version, apply_error, stats FROM agents ORDER BY name")
    }

    public func agent(named name: String) async throws -> AgentRecord? {
        try await agentRows("""
            SELECT name, labels, capabilities, software, last_seen_ms, chain, desired_version, applied_version, apply_error, stats
            FROM agents WHERE name = \(name)
            """).first
    }

    private func agentRows(_ query: PostgresQuery) async throws -> [AgentRecord] {
        var agents: [AgentRecord] = []
        let rows = try await client.query(query, logger: log)
        for try await (name, labels, capabilities, software, lastSeen, chain, desired, applied, error, stats)
            in rows.decode((String, String, String, String, Int64, String, Int64, Int64, String, Data).self) {
            var agent = AgentRecord(name: name)
            agent.labels = try JSONDecoder().decode([String: String].self, from: Data(labels.utf8))
            agent.capabilities = try JSONDecoder().decode([String].self, from: Data(capabilities.utf8))
            agent.softwareVersion = software
            agent.lastSeenMilliseconds = lastSeen
            agent.chain = chain
            agent.desiredVersion = UInt64(bitPattern: desired)
            agent.appliedVersion = UInt64(bitPattern: applied)
            agent.applyError = error
            agent.stats = try Mbox_V1_AgentStats(serializedBytes: stats)
            agents.append(agent)
        }
        return agents
    }

    public func putAgent(_ agent: AgentRecord) async throws { try await putAgents([agent]) }

    /// One statement for all of them (columns as arrays, unnested), rows in name order.
    public func putAgents(_ agents: [AgentRecord]) async throws {
        guard !agents.isEmpty else { return }
        // Rows in name order in every statement that writes several: no two wait on each other.
        let sorted = agents.sorted { $0.name < $1.name }
        var binds = PostgresBindings(capacity: 10)
        binds.append(sorted.map(\.name))
        binds.append(try sorted.map { String(decoding: try JSONEncoder().encode($0.labels), as: UTF8.self) })
        binds.append(try sorted.map { String(decoding: try JSONEncoder().encode($0.capabilities), as: UTF8.self) })
        binds.append(sorted.map(\.softwareVersion))
        binds.append(sorted.map(\.lastSeenMilliseconds))
        binds.append(sorted.map(\.chain))
        binds.append(sorted.map { Int64(bitPattern: $0.desiredVersion) })
        binds.append(sorted.map { Int64(bitPattern: $0.appliedVersion) })
        binds.append(sorted.map(\.applyError))
        binds.append(try sorted.map { ByteBuffer(bytes: try $0.stats.serializedBytes() as [UInt8]) })
        let query = PostgresQuery(unsafeSQL: """
            INSERT INTO agents (name, labels, capabilities, software, last_seen_ms, chain, desired_version, applied_version, apply_error, stats)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[], $8::bigint[],
                                 $9::text[], $10::bytea[])
            ON CONFLICT (name) DO UPDATE SET labels = EXCLUDED.labels, capabilities = EXCLUDED.capabilities,
                software = EXCLUDED.software, last_seen_ms = EXCLUDED.last_seen_ms, chain = EXCLUDED.chain,
                desired_version = EXCLUDED.desired_version, applied_version = EXCLUDED.applied_version,
                apply_error = EXCLUDED.apply_error, stats = EXCLUDED.stats
            """, binds: binds)
        _ = try await retryingConflicts { try await self.client.query(query, logger: self.log) }
    }

    /// Runs a transaction again (up to three times) when PostgreSQL broke a deadlock or a
    /// serialisation conflict by aborting it.
    private func retryingConflicts<T>(_ body: () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await body()
            } catch {
                attempt += 1
                let text = String(reflecting: error)
                guard attempt < 3, text.contains("40P01") || text.contains("40001") else { throw error }
                log.warning("transaction aborted by a conflict (attempt \(attempt)); running it again")
                try await Task.sleep(for: .milliseconds(10 * attempt))
            }
        }
    }

    /// One statement for all of them; rows locked in name order first.
    public func putReports(_ agents: [AgentRecord]) async throws {
        guard !agents.isEmpty else { return }
        let sorted = agents.sorted { $0.name < $1.name }
        var binds = PostgresBindings(capacity: 6)
        binds.append(sorted.map(\.name))
        binds.append(sorted.map(\.softwareVersion))
        binds.append(sorted.map(\.lastSeenMilliseconds))
        binds.append(sorted.map { Int64(bitPattern: $0.appliedVersion) })
        binds.append(sorted.map(\.applyError))
        binds.append(try sorted.map { ByteBuffer(bytes: try $0.stats.serializedBytes() as [UInt8]) })
        let query = PostgresQuery(unsafeSQL: """
            WITH locked AS (SELECT name FROM agents WHERE name = ANY($1::text[]) ORDER BY name FOR UPDATE)
            UPDATE agents SET software = r.software, last_seen_ms = r.last_seen_ms, applied_version = r.applied_version,
                apply_error = r.apply_error, stats = r.stats
            FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::bytea[])
                AS r(name, software, last_seen_ms, applied_version, apply_error, stats)
            WHERE agents.name = r.name AND agents.name IN (SELECT name FROM locked)
            """, binds: binds)
        _ = try await retryingConflicts { try await self.client.query(query, logger: self.log) }
    }

    // MARK: Replicas

    public var isShared: Bool { true }

    /// The connection that holds the change lock (a session-level advisory lock lives on
    /// one connection; the pool's may change between statements).
    private let lockHolder = LockHolder()

    public func acquireChangeLock() async throws {
        let connection = try await lockHolder.connection(configuration: connectionConfiguration, logger: log)
        do {
            try await connection.query("SELECT pg_advisory_lock(\(Self.changeLockKey))", logger: log)
        } catch {
            await lockHolder.discard()
            throw error
        }
    }

    public func releaseChangeLock() async {
        guard let connection = await lockHolder.current else { return }
        do {
            try await connection.query("SELECT pg_advisory_unlock(\(Self.changeLockKey))", logger: log)
        } catch {
            // A connection that failed has lost its locks with it.
            await lockHolder.discard()
        }
    }

    static let changeLockKey: Int64 = 7423002
    static let channel = "mbox_changes"

    public func announceChange() async throws {
        try await client.query("SELECT pg_notify(\(Self.channel), 'changed')", logger: log)
    }

    /// LISTENs on a connection of its own, reconnecting after a failure (and yielding once
    /// then: a change may have been missed meanwhile).
    public func changes() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let configuration = connectionConfiguration
        let log = self.log
        let task = Task {
            var first = true
            while !Task.isCancelled {
                do {
                    let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: log)
                    defer { Task { try? await connection.close() } }
                    try await connection.listen(on: Self.channel) { notifications in
                        if !first { continuation.yield() }
                        first = false
                        for try await _ in notifications { continuation.yield() }
                    }
                } catch {
                    if Task.isCancelled { break }
                    log.warning("change feed: \(String(reflecting: error)); listening again in 1 s")
                }
                try? await Task.sleep(for: .seconds(1))
            }
            continuation.finish()
        }
        listeners.withLockedValue { $0.append(task) }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    private let listeners = NIOLockedValueBox<[Task<Void, Never>]>([])

    static let alertChannel = "mbox_alerts"
    /// Tells this store's own notices from other replicas'.
    let instance = UUID().uuidString

    /// LISTENs for other replicas' alert notices on a connection of its own while iterated
    /// and reads each notice's rows (by id range and agent: exactly the batch's).
    public func othersAlerts(listening: @escaping @Sendable () -> Void) -> AsyncStream<[Mbox_V1_Alert]> {
        let (stream, continuation) = AsyncStream.makeStream(of: [Mbox_V1_Alert].self, bufferingPolicy: .bufferingOldest(256))
        let configuration = connectionConfiguration
        let (log, instance) = (self.log, self.instance)
        let task = Task { [weak self] in
            while !Task.isCancelled {
                do {
                    let connection = try await PostgresConnection.connect(configuration: configuration, id: 2, logger: log)
                    defer { Task { try? await connection.close() } }
                    try await connection.listen(on: Self.alertChannel) { notifications in
                        listening()
                        for try await notification in notifications {
                            let parts = notification.payload.split(separator: " ", maxSplits: 3).map(String.init)
                            guard parts.count == 4, parts[0] != instance, let low = Int64(parts[1]), let high = Int64(parts[2]),
                                  let self else { continue }
                            if case .dropped = continuation.yield(try await self.alerts(agent: parts[3], ids: low...high)) {
                                log.warning("a live follow fell behind other replicas' alerts; a batch was not delivered to it")
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    log.warning("alert feed: \(String(reflecting: error)); listening again in 1 s")
                }
                try? await Task.sleep(for: .seconds(1))
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    // MARK: Alerts

    static let alertColumns = ["agent", "spool_id", "sequence", "timestamp_us", "sid", "gid", "rev", "signature", "category", "severity",
                               "action", "src_ip", "src_port", "dest_ip", "dest_port", "proto", "flow_id", "chain", "config_version"]
    /// Rows per INSERT (each column goes as one array parameter).
    static let rowsPerInsert = 10_000

    /// One statement per up to 10,000 rows, each column bound as an array and unnested
    /// into rows (a handful of parameters, not 19 per row); the rows the server stored come
    /// back (`RETURNING`), the rest were there already.
    public func insertAlerts(_ alerts: [Mbox_V1_Alert], agent: String) async throws -> AlertInsertion {
        var stored = Set<AlertKey>()
        let columns = Self.alertColumns.dropFirst().joined(separator: ",")
        let sql = """
            INSERT INTO alerts (\(Self.alertColumns.joined(separator: ","))) SELECT $1, * FROM unnest(
                $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::text[],
                $10::bigint[], $11::text[], $12::text[], $13::int[], $14::text[], $15::int[], $16::text[], $17::bigint[],
                $18::text[], $19::bigint[]) AS batch(\(columns))
            ON CONFLICT (agent, spool_id, sequence) DO NOTHING RETURNING id, spool_id, sequence
            """
        let instance = self.instance
        try await client.withTransaction(logger: log) { connection in
            var ids: ClosedRange<Int64>?
            for start in stride(from: 0, to: alerts.count, by: Self.rowsPerInsert) {
                let chunk = alerts[start..<min(alerts.count, start + Self.rowsPerInsert)]
                var binds = PostgresBindings(capacity: Self.alertColumns.count)
                binds.append(agent)
                binds.append(chunk.map { Int64(bitPattern: $0.spoolID) })
                binds.append(chunk.map { Int64(bitPattern: $0.sequence) })
                binds.append(chunk.map(\.timestampUs))
                binds.append(chunk.map { Int64($0.sid) })
                binds.append(chunk.map { Int64($0.gid) })
                binds.append(chunk.map { Int64($0.rev) })
                binds.append(chunk.map(\.signature))
                binds.append(chunk.map(\.category))
                binds.append(chunk.map { Int64($0.severity) })
                binds.append(chunk.map(\.action))
                binds.append(chunk.map(\.flow.srcIp))
                binds.append(chunk.map { Int32(truncatingIfNeeded: $0.flow.srcPort) })
                binds.append(chunk.map(\.flow.destIp))
                binds.append(chunk.map { Int32(truncatingIfNeeded: $0.flow.destPort) })
                binds.append(chunk.map(\.flow.proto))
                binds.append(chunk.map { Int64(bitPattern: $0.flowID) })
                binds.append(chunk.map(\.chain))
                binds.append(chunk.map { Int64(bitPattern: $0.configVersion) })
                let rows = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: log)
                for try await (id, spool, sequence) in rows.decode((Int64, Int64, Int64).self) {
                    stored.insert(AlertKey(spool: UInt64(bitPattern: spool), sequence: UInt64(bitPattern: sequence)))
                    ids = ids.map { min($0.lowerBound, id)...max($0.upperBound, id) } ?? id...id
                }
            }
            // Delivered at commit to replicas following alerts: which rows to read.
            if let ids {
                let notice = "\(instance) \(ids.lowerBound) \(ids.upperBound) \(agent)"
                try await connection.query("SELECT pg_notify(\(Self.alertChannel), \(notice))", logger: log)
            }
        }
        var result = AlertInsertion()
        var seen = Set<AlertKey>()
        for var alert in alerts {
            let key = AlertKey(spool: alert.spoolID, sequence: alert.sequence)
            // A key twice in one batch is stored once: its second copy is a duplicate.
            if stored.contains(key), seen.insert(key).inserted {
                alert.agent = agent
                result.stored.append(alert)
            } else {
                result.duplicates += 1
            }
        }
        return result
    }

    struct AlertKey: Hashable {
        var spool: UInt64
        var sequence: UInt64
    }

    public func alerts(matching query: Mbox_V1_AlertQuery) async throws -> AlertPage {
        var conditions: [String] = []
        var binds = PostgresBindings()
        func parameter(_ value: some PostgresNonThrowingEncodable) -> String {
            binds.append(value)
            return "$\(binds.count)"
        }
        if !query.agent.isEmpty { conditions.append("agent = \(parameter(query.agent))") }
        if query.sid != 0 { conditions.append("sid = \(parameter(Int64(query.sid)))") }
        if query.sinceUnixUs != 0 { conditions.append("timestamp_us >= \(parameter(query.sinceUnixUs))") }
        if query.untilUnixUs != 0 { conditions.append("timestamp_us <= \(parameter(query.untilUnixUs))") }
        if !query.ip.isEmpty {
            let ip = parameter(query.ip)
            conditions.append("(src_ip = \(ip) OR dest_ip = \(ip))")
        }
        if !query.page.isEmpty {
            guard let cursor = AlertCursor(token: query.page) else {
                throw StoreError("the page token '\(query.page)' is not one this controller gave")
            }
            conditions.append("(timestamp_us, id) < (\(parameter(cursor.timestampUs)), \(parameter(cursor.id)))")
        }
        let plan = AlertPage.Plan(query)
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT id, \(Self.alertColumns.joined(separator: ",")) FROM alerts \(filter) ORDER BY timestamp_us DESC, id DESC LIMIT \(plan.fetch)"
        var rows: [(Mbox_V1_Alert, AlertCursor)] = []
        for try await row in try await client.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: log) {
            let (alert, id) = try Self.alert(row)
            rows.append((alert, AlertCursor(timestampUs: alert.timestampUs, id: id)))
        }
        return plan.page(newestFirst: rows)
    }

    /// One agent's alerts with ids in `ids`, in id order (a batch another replica stored).
    func alerts(agent: String, ids: ClosedRange<Int64>) async throws -> [Mbox_V1_Alert] {
        var alerts: [Mbox_V1_Alert] = []
        let query: PostgresQuery = """
            SELECT id, \(unescaped: Self.alertColumns.joined(separator: ",")) FROM alerts
            WHERE agent = \(agent) AND id BETWEEN \(ids.lowerBound) AND \(ids.upperBound) ORDER BY id
            """
        for try await row in try await client.query(query, logger: log) { alerts.append(try Self.alert(row).0) }
        return alerts
    }

    /// An alert and its id from a row of `id, alertColumns...`.
    static func alert(_ row: PostgresRow) throws -> (Mbox_V1_Alert, Int64) {
        let (id, agent, spool, sequence, timestamp, sid, gid, rev, signature, category, severity) =
            try row.decode((Int64, String, Int64, Int64, Int64, Int64, Int64, Int64, String, String, Int64).self)
        let columns = row.makeRandomAccess()
        var alert = Mbox_V1_Alert()
        alert.agent = agent
        alert.spoolID = UInt64(bitPattern: spool)
        alert.sequence = UInt64(bitPattern: sequence)
        alert.timestampUs = timestamp
        alert.sid = UInt32(truncatingIfNeeded: sid)
        alert.gid = UInt32(truncatingIfNeeded: gid)
        alert.rev = UInt32(truncatingIfNeeded: rev)
        alert.signature = signature
        alert.category = category
        alert.severity = UInt32(truncatingIfNeeded: severity)
        alert.action = try columns["action"].decode(String.self)
        alert.flow.srcIp = try columns["src_ip"].decode(String.self)
        alert.flow.srcPort = UInt32(try columns["src_port"].decode(Int32.self))
        alert.flow.destIp = try columns["dest_ip"].decode(String.self)
        alert.flow.destPort = UInt32(try columns["dest_port"].decode(Int32.self))
        alert.flow.proto = try columns["proto"].decode(String.self)
        alert.flowID = UInt64(bitPattern: try columns["flow_id"].decode(Int64.self))
        alert.chain = try columns["chain"].decode(String.self)
        alert.configVersion = UInt64(bitPattern: try columns["config_version"].decode(Int64.self))
        return (alert, id)
    }

    public func alertCount() async throws -> Int {
        for try await count in try await client.query("SELECT count(*) FROM alerts", logger: log).decode(Int64.self) { return Int(count) }
        return 0
    }

    public func pruneAlerts(olderThanUnixUs: Int64?, keepingNewest: Int?) async throws -> Int {
        var removed = 0
        func deleteInBatches(_ condition: String, _ value: Int64) async throws {
            while true {
                let query = PostgresQuery(unsafeSQL: """
                    WITH gone AS (DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE \(condition) ORDER BY id LIMIT \(AlertRetention.pruneBatch))
                                  RETURNING 1)
                    SELECT count(*) FROM gone
                    """, binds: { var binds = PostgresBindings(); binds.append(value); return binds }())
                var count = 0
                for try await deleted in try await client.query(query, logger: log).decode(Int64.self) { count = Int(deleted) }
                removed += count
                if count < AlertRetention.pruneBatch { break }
            }
        }
        if let olderThanUnixUs { try await deleteInBatches("timestamp_us < $1", olderThanUnixUs) }
        if let keepingNewest {
            var boundary: Int64?
            let offset = Int64(max(0, keepingNewest - 1))
            for try await id in try await client.query("SELECT id FROM alerts ORDER BY id DESC LIMIT 1 OFFSET \(offset)", logger: log)
                .decode(Int64.self) { boundary = id }
            if let boundary { try await deleteInBatches("id < $1", boundary) }
        }
        return removed
    }

    // MARK: Audit

    public func appendAudit(_ entry: Mbox_V1_AuditEntry) async throws {
        try await client.query("""
            INSERT INTO audit (time_ms, operator, certificate_sha256, peer, action, chain, revision, outcome)
            VALUES (\(entry.timeUnixMs), \(entry.operator), \(entry.certificateSha256), \(entry.peer), \(entry.action), \(entry.chain),
                    \(Int64(bitPattern: entry.revision)), \(entry.outcome))
            """, logger: log)
    }

    public func audit(limit: Int) async throws -> [Mbox_V1_AuditEntry] {
        var entries: [Mbox_V1_AuditEntry] = []
        let rows = try await client.query("""
            SELECT time_ms, operator, certificate_sha256, peer, action, chain, revision, outcome
            FROM (SELECT * FROM audit ORDER BY id DESC LIMIT \(Int64(limit))) newest ORDER BY id
            """, logger: log)
        for try await (time, name, fingerprint, peer, action, chain, revision, outcome)
            in rows.decode((Int64, String, String, String, String, String, Int64, String).self) {
            var entry = Mbox_V1_AuditEntry()
            entry.timeUnixMs = time
            entry.operator = name
            entry.certificateSha256 = fingerprint
            entry.peer = peer
            entry.action = action
            entry.chain = chain
            entry.revision = UInt64(bitPattern: revision)
            entry.outcome = outcome
            entries.append(entry)
        }
        return entries
    }
}

/// Where a PostgreSQL database is, from a `postgres://` URL.
struct PostgresTarget: CustomStringConvertible {
    var user = "postgres"
    var password: String?
    var host = "localhost"
    var port = 5432
    var database = "postgres"
    /// A Unix socket directory (`?host=/dir`); the socket is DIR/.s.PGSQL.PORT.
    var socketDirectory: String?

    init(_ url: String) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? "") else {
            throw StoreError("'\(url)' is not a postgres:// URL")
        }
        if let user = components.user, !user.isEmpty { self.user = user.removingPercentEncoding ?? user }
        password = components.password?.removingPercentEncoding
        if let host = components.host, !host.isEmpty { self.host = host }
        if let port = components.port { self.port = port }
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        if !path.isEmpty { database = path }
        for item in components.queryItems ?? [] {
            switch item.name {
            case "host" where item.value?.hasPrefix("/") == true: socketDirectory = item.value
            case "port": if let value = item.value.flatMap(Int.init) { port = value }
            case "user": if let value = item.value { user = value }
            default: throw StoreError("'\(url)': unknown parameter '\(item.name)' (host=/socket/dir, port, user)")
            }
        }
    }

    var socketPath: String? { socketDirectory.map { "\($0)/.s.PGSQL.\(port)" } }

    var description: String {
        "postgres://\(user)@" + (socketDirectory.map { "[\($0)]" } ?? "\(host)") + ":\(port)/\(database)"
    }
}

/// One connection, made when first needed and replaced after a failure.
actor LockHolder {
    private(set) var current: PostgresConnection?

    func connection(configuration: PostgresConnection.Configuration, logger: Logging.Logger) async throws -> PostgresConnection {
        if let current, !current.isClosed { return current }
        let made = try await PostgresConnection.connect(configuration: configuration, id: 2, logger: logger)
        current = made
        return made
    }

    func discard() async {
        try? await current?.close()
        current = nil
    }
}

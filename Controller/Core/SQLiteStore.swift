import Foundation
import GRDB
import MBoxProto
import SwiftProtobuf

/// `ControlStore` in one SQLite file (WAL mode), through GRDB. Chains and agent
/// statistics are kept as protobuf blobs; alerts as columns, unique by (agent, spool, sequence).
public final class SQLiteStore: ControlStore {
    let database: DatabasePool

    /// Opens (or creates) the store at `path`.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            // WAL with NORMAL sync: a crash of the process loses nothing committed; only an
            // OS crash may lose the last transactions.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        database = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(database)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
                INSERT INTO meta VALUES ('revision', 0);
                CREATE TABLE chains (name TEXT PRIMARY KEY, record BLOB NOT NULL);
                CREATE TABLE agents (
                    name TEXT PRIMARY KEY, labels TEXT NOT NULL, capabilities TEXT NOT NULL, software TEXT NOT NULL,
                    last_seen_ms INTEGER NOT NULL, chain TEXT NOT NULL, desired_version INTEGER NOT NULL,
                    applied_version INTEGER NOT NULL, apply_error TEXT NOT NULL, stats BLOB NOT NULL);
                CREATE TABLE alerts (
                    id INTEGER PRIMARY KEY, agent TEXT NOT NULL, spool_id INTEGER NOT NULL, sequence INTEGER NOT NULL, timestamp_us INTEGER NOT NULL,
                    sid INTEGER NOT NULL, gid INTEGER NOT NULL, rev INTEGER NOT NULL, signature TEXT NOT NULL,
                    category TEXT NOT NULL, severity INTEGER NOT NULL, action TEXT NOT NULL,
                    src_ip TEXT NOT NULL, src_port INTEGER NOT NULL, dest_ip TEXT NOT NULL, dest_port INTEGER NOT NULL,
                    proto TEXT NOT NULL, flow_id INTEGER NOT NULL, chain TEXT NOT NULL, config_version INTEGER NOT NULL,
                    UNIQUE (agent, spool_id, sequence));
                CREATE INDEX alerts_time ON alerts (timestamp_us);
                CREATE INDEX alerts_sid ON alerts (sid);
                """)
        }
        migrator.registerMigration("v2: audit log, indexes for every alert filter") { db in
            try db.execute(sql: """
                CREATE TABLE audit (
                    id INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, operator TEXT NOT NULL, certificate_sha256 TEXT NOT NULL,
                    peer TEXT NOT NULL, action TEXT NOT NULL, chain TEXT NOT NULL, revision INTEGER NOT NULL, outcome TEXT NOT NULL);
                DROP INDEX alerts_sid;
                CREATE INDEX alerts_agent_time ON alerts (agent, timestamp_us);
                CREATE INDEX alerts_sid_time ON alerts (sid, timestamp_us);
                CREATE INDEX alerts_src_time ON alerts (src_ip, timestamp_us);
                CREATE INDEX alerts_dest_time ON alerts (dest_ip, timestamp_us);
                """)
        }
        migrator.registerMigration("v3: chain revisions, agents' statistics over time, console tokens") { db in
            try db.execute(sql: """
                CREATE TABLE chain_revisions (chain TEXT NOT NULL, revision INTEGER NOT NULL, record BLOB NOT NULL,
                                              PRIMARY KEY (chain, revision));
                CREATE TABLE agent_samples (agent TEXT NOT NULL, time_ms INTEGER NOT NULL, stats BLOB NOT NULL);
                CREATE INDEX agent_samples_time ON agent_samples (agent, time_ms);
                CREATE INDEX agent_samples_age ON agent_samples (time_ms);
                CREATE TABLE console_tokens (hash TEXT PRIMARY KEY, operator TEXT NOT NULL, certificate_sha256 TEXT NOT NULL,
                                             expires_ms INTEGER NOT NULL);
                """)
        }
        return migrator
    }

    public func nextRevision() async throws -> UInt64 {
        try await database.write { db in
            try db.execute(sql: "UPDATE meta SET value = value + 1 WHERE key = 'revision'")
            return try UInt64.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'revision'") ?? 0
        }
    }

    public func chains() async throws -> [Mbox_V1_ChainRecord] {
        try await database.read { db in
            try Data.fetchAll(db, sql: "SELECT record FROM chains ORDER BY name").map { try Mbox_V1_ChainRecord(serializedBytes: $0) }
        }
    }

    public func putChain(_ record: Mbox_V1_ChainRecord) async throws {
        let blob: Data = try record.serializedBytes()
        try await database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO chains (name, record) VALUES (?, ?)", arguments: [record.spec.name, blob])
        }
    }

    public func deleteChain(named name: String) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM chains WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }

    public func agents() async throws -> [AgentRecord] {
        try await database.read { db in try Row.fetchAll(db, sql: "SELECT * FROM agents ORDER BY name").map(Self.agent) }
    }

    public func agent(named name: String) async throws -> AgentRecord? {
        try await database.read { db in try Row.fetchOne(db, sql: "SELECT * FROM agents WHERE name = ?", arguments: [name]).map(Self.agent) }
    }

    public func putAgent(_ agent: AgentRecord) async throws {
        try await putAgents([agent])
    }

    public func putAgents(_ agents: [AgentRecord]) async throws {
        guard !agents.isEmpty else { return }
        try await database.write { db in
            for agent in agents { try Self.write(agent, db) }
        }
    }

    public func putReports(_ agents: [AgentRecord]) async throws {
        guard !agents.isEmpty else { return }
        try await database.write { db in
            for agent in agents {
                let stats: Data = try agent.stats.serializedBytes()
                try db.execute(sql: """
                    UPDATE agents SET software = ?, last_seen_ms = ?, applied_version = ?, apply_error = ?, stats = ? WHERE name = ?
                    """, arguments: [agent.softwareVersion, agent.lastSeenMilliseconds, Int64(bitPattern: agent.appliedVersion),
                                     agent.applyError, stats, agent.name])
                if db.changesCount == 0 { try Self.write(agent, db) }
            }
        }
    }

    static func write(_ agent: AgentRecord, _ db: Database) throws {
        let labels = String(decoding: try JSONEncoder().encode(agent.labels), as: UTF8.self)
        let capabilities = String(decoding: try JSONEncoder().encode(agent.capabilities), as: UTF8.self)
        let stats: Data = try agent.stats.serializedBytes()
        try db.execute(sql: """
            INSERT OR REPLACE INTO agents (name, labels, capabilities, software, last_seen_ms, chain, desired_version,
                                           applied_version, apply_error, stats)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [agent.name, labels, capabilities, agent.softwareVersion, agent.lastSeenMilliseconds,
                             agent.chain, Int64(bitPattern: agent.desiredVersion), Int64(bitPattern: agent.appliedVersion),
                             agent.applyError, stats])
    }

    static func agent(_ row: Row) throws -> AgentRecord {
        var agent = AgentRecord(name: row["name"])
        agent.labels = try JSONDecoder().decode([String: String].self, from: Data((row["labels"] as String).utf8))
        agent.capabilities = try JSONDecoder().decode([String].self, from: Data((row["capabilities"] as String).utf8))
        agent.softwareVersion = row["software"]
        agent.lastSeenMilliseconds = row["last_seen_ms"]
        agent.chain = row["chain"]
        agent.desiredVersion = UInt64(bitPattern: row["desired_version"] as Int64)
        agent.appliedVersion = UInt64(bitPattern: row["applied_version"] as Int64)
        agent.applyError = row["apply_error"]
        agent.stats = try Mbox_V1_AgentStats(serializedBytes: row["stats"] as Data)
        return agent
    }

    public func insertAlerts(_ alerts: [Mbox_V1_Alert], agent: String) async throws -> AlertInsertion {
        try await database.write { db in
            var result = AlertInsertion()
            let statement = try db.cachedStatement(sql: """
                INSERT OR IGNORE INTO alerts (agent, spool_id, sequence, timestamp_us, sid, gid, rev, signature, category, severity,
                    action, src_ip, src_port, dest_ip, dest_port, proto, flow_id, chain, config_version)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            for var alert in alerts {
                alert.agent = agent
                try statement.execute(arguments: [
                    agent, Int64(bitPattern: alert.spoolID), Int64(bitPattern: alert.sequence), alert.timestampUs, alert.sid, alert.gid, alert.rev,
                    alert.signature, alert.category, alert.severity, alert.action, alert.flow.srcIp, alert.flow.srcPort,
                    alert.flow.destIp, alert.flow.destPort, alert.flow.proto, Int64(bitPattern: alert.flowID), alert.chain,
                    Int64(bitPattern: alert.configVersion),
                ])
                if db.changesCount > 0 { result.stored.append(alert) } else { result.duplicates += 1 }
            }
            return result
        }
    }

    public func alerts(matching query: Mbox_V1_AlertQuery) async throws -> AlertPage {
        let (sql, arguments) = try Self.alertSQL(query)
        let rows = try await database.read { db in
            try Row.fetchAll(db, sql: sql, arguments: arguments).map { (Self.alert($0), AlertCursor(timestampUs: $0["timestamp_us"], id: $0["id"])) }
        }
        return AlertPage.Plan(query).page(newestFirst: rows)
    }

    /// The statement for one page of `query`: newest first, so a page cut short keeps the
    /// newest and the next page goes older. Every filter has an index that also orders.
    public static func alertSQL(_ query: Mbox_V1_AlertQuery) throws -> (String, StatementArguments) {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if !query.agent.isEmpty { conditions.append("agent = ?"); arguments += [query.agent] }
        if query.sid != 0 { conditions.append("sid = ?"); arguments += [query.sid] }
        if query.sinceUnixUs != 0 { conditions.append("timestamp_us >= ?"); arguments += [query.sinceUnixUs] }
        if query.untilUnixUs != 0 { conditions.append("timestamp_us <= ?"); arguments += [query.untilUnixUs] }
        if !query.ip.isEmpty { conditions.append("(src_ip = ? OR dest_ip = ?)"); arguments += [query.ip, query.ip] }
        if !query.page.isEmpty {
            guard let cursor = AlertCursor(token: query.page) else {
                throw StoreError("the page token '\(query.page)' is not one this controller gave")
            }
            conditions.append("(timestamp_us < ? OR (timestamp_us = ? AND id < ?))")
            arguments += [cursor.timestampUs, cursor.timestampUs, cursor.id]
        }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return ("SELECT * FROM alerts \(filter) ORDER BY timestamp_us DESC, id DESC LIMIT \(AlertPage.Plan(query).fetch)", arguments)
    }

    public func pruneAlerts(olderThanUnixUs: Int64?, keepingNewest: Int?) async throws -> Int {
        var removed = 0
        if let olderThanUnixUs { removed += try await deleteInBatches("timestamp_us < ?", olderThanUnixUs) }
        if let keepingNewest {
            // The oldest id still kept: everything below it goes.
            let boundary = try await database.read { db in
                try Int64.fetchOne(db, sql: "SELECT id FROM alerts ORDER BY id DESC LIMIT 1 OFFSET ?", arguments: [max(0, keepingNewest - 1)])
            }
            if let boundary { removed += try await deleteInBatches("id < ?", boundary) }
        }
        return removed
    }

    /// Deletes the alerts matching `condition` (one `?` for `value`), a batch per transaction.
    private func deleteInBatches(_ condition: String, _ value: Int64) async throws -> Int {
        var removed = 0
        while true {
            let count = try await database.write { db in
                try db.execute(sql: "DELETE FROM alerts WHERE id IN (SELECT id FROM alerts WHERE \(condition) ORDER BY id LIMIT ?)",
                               arguments: [value, AlertRetention.pruneBatch])
                return db.changesCount
            }
            removed += count
            if count < AlertRetention.pruneBatch { return removed }
        }
    }

    public func appendAudit(_ entry: Mbox_V1_AuditEntry) async throws {
        try await database.write { db in
            try db.execute(sql: """
                INSERT INTO audit (time_ms, operator, certificate_sha256, peer, action, chain, revision, outcome)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [entry.timeUnixMs, entry.operator, entry.certificateSha256, entry.peer, entry.action, entry.chain,
                                 Int64(bitPattern: entry.revision), entry.outcome])
        }
    }

    public func audit(limit: Int) async throws -> [Mbox_V1_AuditEntry] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM (SELECT * FROM audit ORDER BY id DESC LIMIT ?) ORDER BY id", arguments: [limit]).map { row in
                var entry = Mbox_V1_AuditEntry()
                entry.timeUnixMs = row["time_ms"]
                entry.operator = row["operator"]
                entry.certificateSha256 = row["certificate_sha256"]
                entry.peer = row["peer"]
                entry.action = row["action"]
                entry.chain = row["chain"]
                entry.revision = UInt64(bitPattern: row["revision"] as Int64)
                entry.outcome = row["outcome"]
                return entry
            }
        }
    }

    /// How SQLite would run `sql` (EXPLAIN QUERY PLAN's detail lines), for checking indexes.
    public func queryPlan(_ sql: String, arguments: StatementArguments = []) throws -> [String] {
        try database.read { db in try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] } }
    }

    public func alertCount() async throws -> Int {
        try await database.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM alerts") ?? 0 }
    }

    static func alert(_ row: Row) -> Mbox_V1_Alert {
        var alert = Mbox_V1_Alert()
        alert.agent = row["agent"]
        alert.sequence = UInt64(bitPattern: row["sequence"] as Int64)
        alert.spoolID = UInt64(bitPattern: row["spool_id"] as Int64)
        alert.timestampUs = row["timestamp_us"]
        alert.sid = row["sid"]
        alert.gid = row["gid"]
        alert.rev = row["rev"]
        alert.signature = row["signature"]
        alert.category = row["category"]
        alert.severity = row["severity"]
        alert.action = row["action"]
        alert.flow.srcIp = row["src_ip"]
        alert.flow.srcPort = row["src_port"]
        alert.flow.destIp = row["dest_ip"]
        alert.flow.destPort = row["dest_port"]
        alert.flow.proto = row["proto"]
        alert.flowID = UInt64(bitPattern: row["flow_id"] as Int64)
        alert.chain = row["chain"]
        alert.configVersion = UInt64(bitPattern: row["config_version"] as Int64)
        return alert
    }
}

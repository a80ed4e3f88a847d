import Foundation
import GRDB
import MBoxProto
import SwiftProtobuf

/// Chain revisions, agents' statistics over time and console tokens, in SQLite.
extension SQLiteStore {
    public func appendRevision(_ revision: Mbox_V1_ChainRevision, chain: String) async throws {
        let blob: Data = try revision.serializedBytes()
        try await database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO chain_revisions (chain, revision, record) VALUES (?, ?, ?)",
                           arguments: [chain, Int64(bitPattern: revision.revision), blob])
        }
    }

    public func revisions(chain: String, limit: Int) async throws -> [Mbox_V1_ChainRevision] {
        try await database.read { db in
            try Data.fetchAll(db, sql: """
                SELECT record FROM (SELECT record, revision FROM chain_revisions WHERE chain = ? ORDER BY revision DESC LIMIT ?)
                ORDER BY revision
                """, arguments: [chain, limit]).map { try Mbox_V1_ChainRevision(serializedBytes: $0) }
        }
    }

    public func appendSamples(_ samples: [AgentSampleRow]) async throws {
        guard !samples.isEmpty else { return }
        let rows: [(String, Int64, Data)] = try samples.map { ($0.agent, $0.sample.timeUnixMs, try $0.sample.stats.serializedBytes()) }
        try await database.write { db in
            let statement = try db.cachedStatement(sql: "INSERT INTO agent_samples (agent, time_ms, stats) VALUES (?, ?, ?)")
            for (agent, time, stats) in rows { try statement.execute(arguments: [agent, time, stats]) }
        }
    }

    public func samples(agent: String, sinceMs: Int64) async throws -> [Mbox_V1_AgentSample] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT time_ms, stats FROM agent_samples WHERE agent = ? AND time_ms >= ? ORDER BY time_ms",
                             arguments: [agent, sinceMs]).map { row in
                var sample = Mbox_V1_AgentSample()
                sample.timeUnixMs = row["time_ms"]
                sample.stats = try Mbox_V1_AgentStats(serializedBytes: row["stats"] as Data)
                return sample
            }
        }
    }

    public func pruneSamples(beforeMs: Int64) async throws -> Int {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM agent_samples WHERE time_ms < ?", arguments: [beforeMs])
            return db.changesCount
        }
    }

    public func putConsoleToken(_ token: ConsoleTokenRecord) async throws {
        try await database.write { db in
            try db.execute(sql: "INSERT INTO console_tokens (hash, operator, certificate_sha256, expires_ms) VALUES (?, ?, ?, ?)",
                           arguments: [token.hash, token.operator, token.certificateSha256, token.expiresMs])
        }
    }

    public func consoleToken(hash: String, nowMs: Int64) async throws -> ConsoleTokenRecord? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM console_tokens WHERE hash = ? AND expires_ms > ?", arguments: [hash, nowMs]).map {
                ConsoleTokenRecord(hash: $0["hash"], operator: $0["operator"], certificateSha256: $0["certificate_sha256"],
                                   expiresMs: $0["expires_ms"])
            }
        }
    }

    public func pruneConsoleTokens(beforeMs: Int64) async throws {
        try await database.write { db in try db.execute(sql: "DELETE FROM console_tokens WHERE expires_ms < ?", arguments: [beforeMs]) }
    }
}

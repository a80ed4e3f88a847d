import Foundation
import MBoxProto
import NIOCore
import PostgresNIO
import SwiftProtobuf

/// Chain revisions, agents' statistics over time and console tokens, in PostgreSQL.
extension PostgresStore {
    public func appendRevision(_ revision: Mbox_V1_ChainRevision, chain: String) async throws {
        let record: Data = try revision.serializedBytes()
        try await client.query("""
            INSERT INTO chain_revisions (chain, revision, record) VALUES (\(chain), \(Int64(bitPattern: revision.revision)), \(record))
            ON CONFLICT (chain, revision) DO UPDATE SET record = EXCLUDED.record
            """, logger: log)
    }

    public func revisions(chain: String, limit: Int) async throws -> [Mbox_V1_ChainRevision] {
        var revisions: [Mbox_V1_ChainRevision] = []
        let rows = try await client.query("""
            SELECT record FROM (SELECT record, revision FROM chain_revisions WHERE chain = \(chain)
                                ORDER BY revision DESC LIMIT \(Int64(limit))) newest ORDER BY revision
            """, logger: log)
        for try await record in rows.decode(Data.self) { revisions.append(try Mbox_V1_ChainRevision(serializedBytes: record)) }
        return revisions
    }

    public func appendSamples(_ samples: [AgentSampleRow]) async throws {
        guard !samples.isEmpty else { return }
        // One statement for the lot: arrays unnested into rows.
        let agents = samples.map(\.agent)
        let times = samples.map(\.sample.timeUnixMs)
        let stats: [ByteBuffer] = try samples.map { ByteBuffer(bytes: try $0.sample.stats.serializedBytes() as [UInt8]) }
        try await client.query("""
            INSERT INTO agent_samples (agent, time_ms, stats) SELECT * FROM unnest(\(agents)::text[], \(times)::bigint[], \(stats)::bytea[])
            """, logger: log)
    }

    public func samples(agent: String, sinceMs: Int64) async throws -> [Mbox_V1_AgentSample] {
        var samples: [Mbox_V1_AgentSample] = []
        let rows = try await client.query("""
            SELECT time_ms, stats FROM agent_samples WHERE agent = \(agent) AND time_ms >= \(sinceMs) ORDER BY time_ms
            """, logger: log)
        for try await (time, stats) in rows.decode((Int64, Data).self) {
            var sample = Mbox_V1_AgentSample()
            sample.timeUnixMs = time
            sample.stats = try Mbox_V1_AgentStats(serializedBytes: stats)
            samples.append(sample)
        }
        return samples
    }

    public func pruneSamples(beforeMs: Int64) async throws -> Int {
        var removed = 0
        let rows = try await client.query("WITH gone AS (DELETE FROM agent_samples WHERE time_ms < \(beforeMs) RETURNING 1) SELECT count(*) FROM gone",
                                          logger: log)
        for try await count in rows.decode(Int64.self) { removed = Int(count) }
        return removed
    }

    public func putConsoleToken(_ token: ConsoleTokenRecord) async throws {
        try await client.query("""
            INSERT INTO console_tokens (hash, operator, certificate_sha256, expires_ms)
            VALUES (\(token.hash), \(token.operator), \(token.certificateSha256), \(token.expiresMs))
            """, logger: log)
    }

    public func consoleToken(hash: String, nowMs: Int64) async throws -> ConsoleTokenRecord? {
        let rows = try await client.query("""
            SELECT operator, certificate_sha256, expires_ms FROM console_tokens WHERE hash = \(hash) AND expires_ms > \(nowMs)
            """, logger: log)
        for try await (name, fingerprint, expires) in rows.decode((String, String, Int64).self) {
            return ConsoleTokenRecord(hash: hash, operator: name, certificateSha256: fingerprint, expiresMs: expires)
        }
        return nil
    }

    public func pruneConsoleTokens(beforeMs: Int64) async throws {
        try await client.query("DELETE FROM console_tokens WHERE expires_ms < \(beforeMs)", logger: log)
    }
}

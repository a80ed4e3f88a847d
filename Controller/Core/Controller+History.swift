import Foundation
import GRPCCore
import MBoxProto

/// What the console shows beyond the current state: chain revisions, agents' statistics
/// over time, and the tokens that let an operator's browser in.
extension Controller {
    /// A chain's newest `limit` revisions, oldest first; `notFound` if it never had one.
    public func revisions(chain name: String, limit: Int = 100) async throws -> [Mbox_V1_ChainRevision] {
        let revisions = try await store.revisions(chain: name, limit: max(1, min(limit, 10_000)))
        guard !revisions.isEmpty else { throw RPCError(code: .notFound, message: "no chain named '\(name)' was ever applied") }
        return revisions
    }

    /// An agent's samples since `sinceMs` (the last hour when 0), oldest first.
    public func samples(agent: String, sinceMs: Int64 = 0) async throws -> [Mbox_V1_AgentSample] {
        try await flush()
        let since = sinceMs != 0 ? sinceMs : Self.nowMilliseconds - 3_600_000
        return try await store.samples(agent: agent, sinceMs: since)
    }

    /// Keeps `stats` as a sample if the agent's last one is `sampleIntervalMs` old.
    func sample(_ agent: String, _ stats: Mbox_V1_AgentStats, at now: Int64) {
        guard now - (lastSampleMs[agent] ?? 0) >= HistoryPolicy.sampleIntervalMs else { return }
        lastSampleMs[agent] = now
        // A store down for long: the oldest go first (counted in the log), memory stays bounded.
        if unsavedSamples.count >= 100_000 {
            unsavedSamples.removeFirst(10_000)
            log.warning("the store has not taken agents' samples for a while: 10,000 oldest samples dropped")
        }
        var sample = Mbox_V1_AgentSample()
        sample.timeUnixMs = now
        sample.stats = stats
        unsavedSamples.append(AgentSampleRow(agent: agent, sample: sample))
    }

    /// Writes the samples taken since the last write; they stay queued if it fails.
    func storeSamples() async throws {
        guard !unsavedSamples.isEmpty else { return }
        let batch = unsavedSamples
        unsavedSamples = []
        do {
            try await store.appendSamples(batch)
        } catch {
            unsavedSamples = Array((batch + unsavedSamples).suffix(100_000))
            throw error
        }
    }

    /// A console token for `caller`, valid `ttlSeconds` (default 12 h, at most 7 days).
    /// Only its SHA-256 is stored; issuing it is audited.
    public func issueConsoleToken(for caller: OperatorCall, ttlSeconds: UInt32 = 0) async throws -> Mbox_V1_ConsoleTokenResponse {
        let ttl = ttlSeconds == 0 ? HistoryPolicy.defaultTokenSeconds : ttlSeconds
        guard ttl <= HistoryPolicy.maximumTokenSeconds else {
            throw RPCError(code: .invalidArgument, message: "a console token lives at most \(HistoryPolicy.maximumTokenSeconds / 86_400) days")
        }
        var random = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        let token = "mbox_" + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let expires = Self.nowMilliseconds + Int64(ttl) * 1000
        try await store.putConsoleToken(ConsoleTokenRecord(hash: ConsoleTokenRecord.hash(of: token), operator: caller.name,
                                                           certificateSha256: caller.certificateSHA256, expiresMs: expires))
        await record(caller.entry(action: "console-token", chain: "", revision: 0, outcome: "issued, valid \(ttl) s"))
        var response = Mbox_V1_ConsoleTokenResponse()
        response.token = token
        response.expiresUnixMs = expires
        response.operator = caller.name
        return response
    }

    /// Whom `token` acts for, if it is one this fleet issued and it has not expired.
    public nonisolated func consoleSession(token: String) async throws -> ConsoleTokenRecord? {
        guard token.hasPrefix("mbox_"), token.utf8.count < 128 else { return nil }
        return try await store.consoleToken(hash: ConsoleTokenRecord.hash(of: token), nowMs: Self.nowMilliseconds)
    }

    /// Prunes samples past `HistoryPolicy.sampleRetentionMs` and expired tokens every
    /// minute until cancelled; failures are logged and retried.
    public nonisolated func pruneHistoryInBackground(every interval: Duration = .seconds(60)) async {
        while !Task.isCancelled {
            let now = Self.nowMilliseconds
            do {
                _ = try await store.pruneSamples(beforeMs: now - HistoryPolicy.sampleRetentionMs)
                try await store.pruneConsoleTokens(beforeMs: now)
            } catch {
                log.error("cannot prune agents' samples or console tokens (retrying): \(error)")
            }
            try? await Task.sleep(for: interval)
        }
    }
}

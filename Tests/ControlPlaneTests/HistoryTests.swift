import Foundation
import MBoxConsole
import MBoxControlPlane
import MBoxControllerCore
import MBoxProto
import Testing

/// What the console shows beyond the current state — chain revisions, agents' samples —
/// and the tokens that let a browser in, on either store; the console's HTTP answers
/// checked with curl.
@Suite("Console history, tokens and HTTP answers", .serialized)
struct HistoryTests {
    static let rules = "alert tcp any any -> any 80 (msg:\"test\"; content:\"UNION SELECT\"; sid:1; rev:1;)\n"

    @Test("Each apply and delete is a revision: operator, certificate, rule files by size and SHA-256 (sha256sum agrees)")
    func revisions() async throws {
        let (store, fixture) = try await makeTestStore()
        defer { withExtendedLifetime(fixture) {} }
        let controller = Controller(store: store)
        let alice = OperatorCall(name: "alice", certificateSHA256: String(repeating: "ab", count: 32), peer: "ipv4:127.0.0.1:1")
        _ = try await controller.apply(chainSpec(idsChain(), rules: ["rules.rules": Self.rules]), by: alice)
        var tuned = chainSpec(idsChain(placement: "role: edge"), rules: ["rules.rules": Self.rules + "# tuned\n"])
        tuned.selector = ["role": "edge"]
        _ = try await controller.apply(tuned, by: OperatorCall(name: "bob"))
        _ = try await controller.delete(chain: "ids-edge", by: alice)
        let history = try await controller.revisions(chain: "ids-edge")
        #expect(history.map(\.action) == ["apply", "apply", "delete"])
        #expect(history.map(\.operator) == ["alice", "bob", "alice"])
        #expect(history[0].certificateSha256 == alice.certificateSHA256)
        #expect(history.map(\.revision) == history.map(\.revision).sorted() && Set(history.map(\.revision)).count == 3)
        let ruleFile = try #require(history[1].spec.ruleSets.first)
        #expect(ruleFile.text.isEmpty, "revisions keep no rule text")
        #expect(ruleFile.bytes == UInt64((Self.rules + "# tuned\n").utf8.count))
        let scratch = try ScratchDirectory()
        try (Self.rules + "# tuned\n").write(toFile: scratch.file("r"), atomically: true, encoding: .utf8)
        let oracle = try runCommand("/usr/bin/sha256sum", [scratch.file("r")])
        #expect(oracle.stdout.hasPrefix(ruleFile.sha256 + " "), "sha256sum: \(oracle.stdout) vs \(ruleFile.sha256)")

        let changes = history[1].changes(since: history[0])
        #expect(changes.contains(.removed("placement: {role: ids}")) && changes.contains(.added("placement: {role: edge}")))
        #expect(changes.contains(.removed("# placement: (all agents)")) && changes.contains(.added("# placement: role=edge")))
        #expect(history[2].comparableLines.isEmpty, "a delete leaves nothing")
        await #expect(throws: (any Error).self) { try await controller.revisions(chain: "never-applied") }
    }

    @Test("Agents' statistics are sampled at most every 10 s and read back in time order")
    func samples() async throws {
        let (store, fixture) = try await makeTestStore()
        defer { withExtendedLifetime(fixture) {} }
        let controller = Controller(store: store)
        var identity = PeerIdentity(role: .agent, name: "edge-1")
        identity.name = "edge-1"
        _ = try await controller.register(identity, Mbox_V1_RegisterRequest())
        var stats = Mbox_V1_AgentStats()
        stats.packets = 1000
        try await controller.stats("edge-1", stats)
        stats.packets = 2000
        try await controller.stats("edge-1", stats)  // within 10 s of the first: not sampled
        let first = try await controller.samples(agent: "edge-1")
        #expect(first.map(\.stats.packets) == [1000])
        // Older samples as stored by an earlier run: read in time order, filtered by `since`.
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let rows = [(-25_200_000, 1), (-1_800_000, 2), (-600_000, 3)].map { offset, packets in
            var sample = Mbox_V1_AgentSample()
            sample.timeUnixMs = now + Int64(offset)
            sample.stats.packets = UInt64(packets)
            return AgentSampleRow(agent: "edge-1", sample: sample)
        }
        try await store.appendSamples(rows.reversed())
        let hour = try await controller.samples(agent: "edge-1")
        #expect(hour.map(\.stats.packets) == [2, 3, 1000], "the last hour, oldest first")
        #expect(try await store.pruneSamples(beforeMs: now - HistoryPolicy.sampleRetentionMs) == 1)
        #expect(try await controller.samples(agent: "other").isEmpty)
    }

    @Test("Console tokens: only their hash is stored, they expire, and a week is the longest")
    func tokens() async throws {
        let (store, fixture) = try await makeTestStore()
        defer { withExtendedLifetime(fixture) {} }
        let controller = Controller(store: store)
        let alice = OperatorCall(name: "alice", certificateSHA256: "cafe")
        let issued = try await controller.issueConsoleToken(for: alice, ttlSeconds: 60)
        #expect(issued.operator == "alice" && issued.token.hasPrefix("mbox_") && issued.token.count > 40)
        #expect(try await controller.consoleSession(token: issued.token)?.operator == "alice")
        #expect(try await controller.consoleSession(token: issued.token + "x") == nil)
        #expect(try await store.consoleToken(hash: issued.token, nowMs: 0) == nil, "the token itself is not a key")
        let brief = try await controller.issueConsoleToken(for: alice, ttlSeconds: 1)
        try await Task.sleep(for: .milliseconds(1_200))
        #expect(try await controller.consoleSession(token: brief.token) == nil, "expired")
        await #expect(throws: (any Error).self) { try await controller.issueConsoleToken(for: alice, ttlSeconds: 8 * 86_400) }
        let audit = try await controller.auditEntries(limit: 10)
        #expect(audit.filter { $0.action == "console-token" && $0.operator == "alice" }.count == 2)
    }

    @Test("The console over HTTPS (curl): sign-in page without a token, pages with it, read only, no open redirect")
    func http() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let running = try await RunningController(in: scratch, pki: pki)
        let console = try await ConsoleServer(controller: running.controller, listen: ControlEndpoint(host: "127.0.0.1", port: 0),
                                              tls: pki.files("controller"))
        let serving = Task { try await console.serve() }
        defer { serving.cancel() }
        let base = "https://127.0.0.1:\(console.port)"
        let token = try await running.controller.issueConsoleToken(for: OperatorCall(name: "alice")).token
        func curl(_ arguments: [String]) async throws -> (status: String, headers: String, body: String) {
            let result = try await runCommandOffPool("/usr/bin/curl", ["-sk", "-D", "-", "--max-time", "10"] + arguments)
            let parts = result.stdout.components(separatedBy: "\r\n\r\n")
            let status = parts.first?.split(separator: " ").dropFirst().first.map(String.init) ?? ""
            return (status, parts.first ?? "", parts.dropFirst().joined(separator: "\r\n\r\n"))
        }
        let anonymous = try await curl([base + "/"])
        #expect(anonymous.status == "401" && anonymous.body.contains("mboxctl console-token"))
        #expect(anonymous.headers.contains("Content-Security-Policy: default-src 'none'"))
        #expect(try await curl([base + "/", "-H", "Cookie: mbox_console=mbox_forged"]).status == "401")
        let fleet = try await curl([base + "/", "-H", "Authorization: Bearer \(token)"])
        #expect(fleet.status == "200" && fleet.body.contains("<table id=\"fleet\""))
        #expect(try await curl([base + "/chains", "-X", "POST", "-H", "Authorization: Bearer \(token)"]).status == "405")
        let login = try await curl([base + "/login?token=\(token)&next=/alerts"])
        #expect(login.status == "303" && login.headers.contains("Location: /alerts"))
        #expect(login.headers.contains("Set-Cookie: mbox_console=\(token); Path=/; Secure; HttpOnly; SameSite=Strict"))
        for hostile in ["//evil.example/", "https://evil.example/", "/x%0d%0aSet-Cookie:%20a=b"] {
            let answer = try await curl([base + "/login?token=\(token)&next=\(hostile)"])
            #expect(answer.headers.contains("Location: /\r\n") || answer.headers.hasSuffix("Location: /"), "next=\(hostile): \(answer.headers)")
        }
        let bad = try await curl([base + "/alerts?since=yesterday", "-H", "Authorization: Bearer \(token)"])
        #expect(bad.status == "400" && bad.body.contains("Since &#39;yesterday&#39;"))
        #expect(try await curl([base + "/agents/nobody", "-H", "Authorization: Bearer \(token)"]).status == "404")
        let script = try await curl([base + "/static/console.js"])
        #expect(script.status == "200" && script.headers.contains("text/javascript"))
        await console.close()
        await running.stop()
    }

    @Test("The console closes strangers that never send a request, and past its connection cap; operators still get in")
    func consoleLimits() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let running = try await RunningController(in: scratch, pki: pki)
        var limits = ConsoleServer.Limits()
        limits.connections = 20
        limits.requestTimeout = .seconds(1)
        let console = try await ConsoleServer(controller: running.controller, listen: ControlEndpoint(host: "127.0.0.1", port: 0),
                                              tls: pki.files("controller"), limits: limits)
        let serving = Task { try await console.serve() }
        defer { serving.cancel() }
        let port = console.port
        let strangers = try await offPool { () -> Int in
            let flood = IdleConnections(port: port, count: 30)
            flood.sendStalledHello(seconds: 5)
            let deadline = Date().addingTimeInterval(10)
            while flood.closedByPeer() < 30, Date() < deadline { usleep(100_000) }
            return flood.closedByPeer()
        }
        #expect(strangers == 30, "10 over the cap closed at once, 20 after the 1 s request deadline")
        let token = try await running.controller.issueConsoleToken(for: OperatorCall(name: "alice")).token
        let answer = try await runCommandOffPool("/usr/bin/curl", ["-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10",
                                                                   "-H", "Authorization: Bearer \(token)", "https://127.0.0.1:\(port)/"])
        #expect(answer.stdout == "200")
        await console.close()
        await running.stop()
    }
}

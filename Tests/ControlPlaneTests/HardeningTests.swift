import Foundation
import GRPCCore
import MBoxAgentControl
import MBoxRuntime
import MBoxControlPlane
import MBoxControllerCore
import MBoxProto
import Testing

/// What an attacker without a certificate, or an operator's oversized chain, did to the
/// controller before (each test reproduces a failure seen then).
@Suite("Hardening: strangers, descriptors, message sizes", .serialized)
struct HardeningTests {
    /// A controller process with Prometheus metrics; its port and metrics port.
    static func launchController(_ scratch: ScratchDirectory, _ pki: TestPKI, descriptorLimit: Int? = nil,
                                 extra: [String] = []) async throws -> (Launched, port: Int, metrics: Int) {
        let binary = try #require(builtCommand("mbox-controller"), "run `swift build` first")
        var arguments = ["serve", "--listen", "127.0.0.1:0", "--db", scratch.file("c.db"), "--pki", pki.directory,
                         "--metrics", "127.0.0.1:0"] + extra
        var executable = binary
        if let descriptorLimit {
            // The shell lowers the limit, then becomes the controller.
            arguments = ["-c", "ulimit -n \(descriptorLimit) && exec \"$0\" \"$@\"", binary] + arguments
            executable = "/bin/sh"
        }
        let process = try Launched(executable, arguments, log: scratch.file("controller.log"))
        let port = try #require(await process.listeningPort(), "\(process.log)")
        let metricsLine = try #require(await process.line(containing: "metrics at http://"), "\(process.log)")
        let metrics = try #require(metricsLine.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) })
        return (process, port, metrics)
    }

    /// `total` stalled connections in waves, each accepted before the next (a burst beyond
    /// the listen backlog — waves of 1,000 overflowed it on a loaded machine — leaves
    /// connections to the client's retransmission timers, for minutes); `metrics` is the
    /// last scrape.
    static func flood(port: Int, total: Int, wave: Int, sources: Int, metricsPort: Int,
                      metrics: inout String) async throws -> [IdleConnections] {
        var waves: [IdleConnections] = []
        var opened = 0
        while opened < total {
            let flood = IdleConnections(port: port, count: min(wave, total - opened), sources: sources)
            try #require(flood.sendStalledHello() == flood.descriptors.count, "the test could not open its connections")
            waves.append(flood)
            opened += flood.descriptors.count
            var scraped = ""
            try #require(try await eventually(seconds: 60) {
                scraped = try await scrapeMetrics(port: metricsPort)
                return metricValue(scraped, "mbox_connections_accepted_total") >= Double(opened)
            }, "\(scraped)")
            metrics = scraped
        }
        return waves
    }

    static func listAgents(port: Int, _ pki: TestPKI) async throws -> [Mbox_V1_AgentInfo] {
        try await withClient(ControlEndpoint(host: "127.0.0.1", port: port), tls: pki.files("alice")) { client in
            try await Mbox_V1_OperatorService.Client(wrapping: client).listAgents(.init(), options: shortDeadline).agents
        }
    }

    @Test("19,500 connections that never finish TLS: the controller stays up and small, an operator is answered at once")
    func strangersFlood() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let (controller, port, metricsPort) = try await Self.launchController(scratch, pki)
        defer { controller.stop() }
        let before = processFootprint(controller.process.processIdentifier)

        var metrics = ""
        let waves = try await Self.flood(port: port, total: 19_500, wave: 250, sources: 1, metricsPort: metricsPort, metrics: &metrics)
        // Before: 5,000 such connections took 42 → 306 MB and ~20,000 crashed it.
        #expect(controller.process.isRunning, "\(controller.log)")
        #expect(try await Self.listAgents(port: port, pki).isEmpty)
        let during = processFootprint(controller.process.processIdentifier)
        #expect(during.residentBytes < before.residentBytes + 64 << 20, "RSS \(before.residentBytes) → \(during.residentBytes)")
        #expect(during.descriptors < 512, "\(during.descriptors) descriptors open while 19,500 strangers knock")

        // The handshake deadline closes the ones still held.
        _ = try await eventually(seconds: 30) {
            metrics = try await scrapeMetrics(port: metricsPort)
            return metricValue(metrics, "mbox_connections_handshaking") == 0
        }
        #expect(metricValue(metrics, "mbox_connections_evicted_total") >= 19_500 - 256, "\(metrics)")
        #expect(metricValue(metrics, "mbox_connections_handshake_timeouts_total") >= 1)
        #expect(waves.reduce(0) { $0 + $1.closedByPeer() } == 19_500)
        waves.forEach { $0.close() }
        #expect(controller.stop() == 0, "\(controller.log)")
    }

    @Test("Under `ulimit -n 1024`, 3,000 strangers from 300 addresses: refused or evicted, never a crash; operators still served")
    func descriptorExhaustion() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let (controller, port, metricsPort) = try await Self.launchController(scratch, pki, descriptorLimit: 1024)
        defer { controller.stop() }
        var metrics = ""
        let waves = try await Self.flood(port: port, total: 3_000, wave: 250, sources: 300, metricsPort: metricsPort, metrics: &metrics)
        // Before: 1,100 of them crashed it (SIGILL once descriptors ran out).
        #expect(controller.process.isRunning, "\(controller.log)")
        #expect(processFootprint(controller.process.processIdentifier).descriptors < 1024)
        #expect(try await Self.listAgents(port: port, pki).isEmpty)
        #expect(metricValue(metrics, "mbox_connections_evicted_total") > 0, "\(metrics)")
        #expect(metricValue(metrics, "mbox_connections_peak") <= 1024 - 256)
        waves.forEach { $0.close() }
        #expect(controller.stop() == 0, "\(controller.log)")
    }

    @Test("Handshake and idle timeouts close silent connections; the client reconnects for its next call")
    func timeouts() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        var limits = ConnectionLimits()
        limits.handshakeTimeout = .seconds(1)
        limits.idleTimeout = .seconds(1)
        let running = try await RunningController(in: scratch, pki: pki, limits: limits)
        let silent = IdleConnections(port: running.port, count: 5)
        #expect(await eventually(seconds: 5) { silent.closedByPeer() == 5 })
        #expect(running.server.gate.counters.handshakeTimeouts == 5)

        try await withClient(running.endpoint, tls: pki.files("alice")) { client in
            let service = Mbox_V1_OperatorService.Client(wrapping: client)
            _ = try await service.listAgents(.init(), options: shortDeadline)
            let accepted = running.server.gate.counters.accepted
            // No RPC for longer than the idle timeout: the controller closes the connection
            // (this client dials again at once, so a new connection is accepted).
            #expect(await eventually(seconds: 5) { running.server.gate.counters.accepted > accepted }, "\(running.server.gate.counters)")
            _ = try await service.listAgents(.init(), options: shortDeadline)
        }
        await running.stop()
    }

    /// A chain whose rules file is `bytes` long: comments around one rule.
    static func bulkyChain(name: String, bytes: Int) -> Mbox_V1_ChainSpec {
        let line = "# " + String(repeating: "x", count: 97) + "\n"
        let text = String(repeating: line, count: bytes / line.utf8.count) + sqlRule + "\n"
        return chainSpec(idsChain(name: name, placement: "role: ids", dynamic: false), rules: ["rules.rules": text])
    }

    @Test("A 12 MB chain reaches every agent; one whose config would pass the shared limit is refused before it is stored")
    func messageSizes() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let running = try await RunningController(in: scratch, pki: pki)
        var sessions: [ControlSession] = []
        var tasks: [Task<Void, Never>] = []
        defer { tasks.forEach { $0.cancel() } }
        for name in ["edge-1", "edge-2"] {
            var settings = ControlSession.Settings(controller: running.endpoint, tls: pki.files(name), stateDirectory: scratch.file(name))
            settings.labels = ["role": "ids"]
            let slot = ConfigSlot()
            let session = try ControlSession(settings: settings, spool: try AlertSpool(directory: scratch.file("\(name)/spool")),
                                             slot: slot, counters: AgentCounters()) { _ in }
            sessions.append(session)
            tasks.append(Task.detached { await session.run() })
            // Stands in for the data path: takes each update and runs it.
            let reader = slot.makeReader()
            tasks.append(Task.detached {
                while !Task.isCancelled {
                    if let update = reader.take() { reader.report(update.version, error: nil) }
                    try? await Task.sleep(for: .milliseconds(5))
                }
            })
        }
        try #require(await eventually { try await running.controller.agents().filter(\.connected).count == 2 })

        // Before: stored, but the agents' 4 MiB receive limit refused it; they looped, stuck.
        let large = Self.bulkyChain(name: "large", bytes: 12_300_000)
        let applied = try await withClient(running.endpoint, tls: pki.files("alice")) { client in
            var request = Mbox_V1_ApplyChainRequest()
            request.spec = large
            var options = CallOptions.defaults
            options.timeout = .seconds(120)
            return try await Mbox_V1_OperatorService.Client(wrapping: client).applyChain(request, options: options)
        }
        #expect(Set(applied.agents) == ["edge-1", "edge-2"])
        let reached = await eventually(seconds: 60) { sessions.allSatisfy { $0.slot.applied == applied.revision } }
        #expect(reached, "applied: \(sessions.map(\.slot.applied)), want \(applied.revision)")
        // Listing stays small: names and sizes, no rule text.
        let listed = try await withClient(running.endpoint, tls: pki.files("alice")) { client in
            try await Mbox_V1_OperatorService.Client(wrapping: client).listChains(.init(), options: shortDeadline).chains
        }
        #expect(listed.first?.spec.ruleSets.first?.text.isEmpty == true)
        #expect(listed.first?.spec.ruleSets.first?.bytes ?? 0 > 12_000_000)

        // A config past the shared limit (handed to the controller directly, as the transport
        // would refuse such a request itself): refused, nothing stored.
        let oversized = Self.bulkyChain(name: "oversized", bytes: ControlLimits.maximumMessageBytes)
        await #expect {
            _ = try await running.controller.apply(oversized)
        } throws: { error in
            (error as? RPCError)?.code == .invalidArgument && "\(error)".contains("at most \(ControlLimits.maximumMessageBytes) bytes")
        }
        #expect(try await running.controller.chains().map(\.spec.name) == ["large"])
        await running.stop()
    }

    @Test("An apply whose caller gave up (deadline) while the chain compiled stores nothing")
    func abandonedApply() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let running = try await RunningController(in: scratch, pki: pki)
        // Rules enough that compiling outlasts the caller's deadline several times over (doubled
        // until it does: the machine's speed decides how many).
        var count = 4000
        var spec = Mbox_V1_ChainSpec()
        var compileTime = Duration.zero
        repeat {
            let rules = (0..<count).map {
                #"alert tcp any any -> any 80 (msg:"r\#($0)"; flow:established,to_server; content:"needle-\#($0)-"; pcre:"/needle-\#($0)-[a-z]{3}\d/"; sid:\#(2_000_000 + $0);)"#
            }.joined(separator: "\n")
            spec = chainSpec(idsChain(name: "slow", dynamic: false), rules: ["rules.rules": rules])
            let started = ContinuousClock.now
            _ = try ChainSpecCompiler().compile(spec)
            compileTime = ContinuousClock.now - started
            count *= 2
        } while compileTime < .milliseconds(400) && count <= 64000
        try #require(compileTime > .milliseconds(300), "compiling took only \(compileTime): the deadline would not be tested")
        let slow = spec

        let failure = await SecurityTests.rpcError {
            try await withClient(running.endpoint, tls: pki.files("alice")) { client in
                var request = Mbox_V1_ApplyChainRequest()
                request.spec = slow
                var options = CallOptions.defaults
                options.timeout = .milliseconds(100)
                _ = try await Mbox_V1_OperatorService.Client(wrapping: client).applyChain(request, options: options)
            }
        }
        #expect(failure?.code == .deadlineExceeded)
        try await Task.sleep(for: compileTime * 2 + .seconds(1))
        // Before: `deadlineExceeded` for the operator, yet the chain was stored and pushed.
        #expect(try await running.controller.chains().isEmpty)
        await running.stop()
    }

    @Test("A chain's compiled size is bounded: more rules than allowed are refused with the numbers")
    func compiledSizeBounded() throws {
        let rules = [sqlRule, sshRule, loginRule].joined(separator: "\n")
        let spec = chainSpec(idsChain(name: "three", dynamic: false), rules: ["rules.rules": rules])
        #expect(throws: Never.self) { _ = try ChainSpecCompiler(maximumRules: 3).compile(spec) }
        #expect { _ = try ChainSpecCompiler(maximumRules: 2).compile(spec) } throws: { error in
            "\(error)".contains("3 rules") && "\(error)".contains("at most 2 rules")
        }
        #expect { _ = try ChainSpecCompiler(maximumCompiledBytes: 16).compile(spec) } throws: { error in
            "\(error)".contains("bytes of pattern databases")
        }
    }
}

import Foundation
import MBoxAgentControl
import MBoxRuntime
import MBoxCapture
import MBoxControlPlane
import MBoxControllerCore
import MBoxDataPath
import MBoxProto
import MBoxTCPMonitor
import MBoxTrafficGen
import Testing

@Suite("Pushed configs in a running agent", .serialized)
struct HotSwapTests {
    @Test("A changed subscription, then a changed rule, take effect between packets; flows and streams are kept")
    func subscriptionsAndRulesChangeWhileRunning() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let running = try await RunningController(in: scratch, pki: pki)

        var profile = TrafficProfile(seed: 11, flows: 600, attack: "UNION SELECT", attackShare: 0.4)
        profile.concurrency = 96
        try generate(profile, to: scratch.file("traffic.pcap"))
        let reader = try CaptureFileReader(path: scratch.file("traffic.pcap"))
        var packets: [CapturedPacket] = []
        while let packet = try reader.next() { packets.append(packet) }

        var settings = ControlSession.Settings(controller: running.endpoint, tls: pki.files("edge-1"), stateDirectory: scratch.file("agent"))
        settings.labels = ["role": "ids"]
        settings.statsInterval = .milliseconds(200)
        let session = try ControlSession(settings: settings, spool: try AlertSpool(directory: scratch.file("agent/spool")),
                                         slot: ConfigSlot(), counters: AgentCounters()) { _ in }
        var configuration = DataPathConfiguration()
        configuration.reassembly = ReassemblyConfiguration()
        let dataPath = DataPath(configuration: configuration)
        let agent = AgentRuntime(dataPath: dataPath, pipeline: nil, chainName: "", eve: nil, control: session.worker(0))
        let sessionTask = Task.detached { await session.run() }
        defer { sessionTask.cancel() }
        // Registered first, so each push's version is the chain's revision.
        try #require(await eventually { session.isConnected })

        /// Pushes a chain and turns the data path's crank until it runs it.
        func push(_ yaml: String, rules: String) async throws -> UInt64 {
            let revision = try await withClient(running.endpoint, tls: pki.files("alice")) { client in
                var request = Mbox_V1_ApplyChainRequest()
                request.spec = chainSpec(yaml, rules: ["rules.rules": rules])
                return try await Mbox_V1_OperatorService.Client(wrapping: client).applyChain(request, options: shortDeadline).revision
            }
            let deadline = Date().addingTimeInterval(30)
            while session.slot.applied != revision, Date() < deadline {
                agent.betweenBursts()
                try await Task.sleep(for: .milliseconds(2))
            }
            try #require(session.slot.applied == revision)
            return revision
        }
        let third = packets.count / 3
        // 1: HTTP flows only (DPI hands them over); no SQL rule.
        let dynamic = try await push(idsChain(dynamic: true), rules: [sshRule, loginRule].joined(separator: "\n"))
        let firstBurst = agent.nextBurst()
        for packet in packets[..<third] { _ = try firstBurst.process(packet) }
        // 2: every client stream (a subscription change).
        let flowsBefore = dataPath.flows.count
        let bytesBefore = dataPath.monitor.reassembler?.counters.deliveredBytes
        let everything = try await push(idsChain(dynamic: false), rules: [sshRule, loginRule].joined(separator: "\n"))
        #expect(dataPath.flows.count == flowsBefore && flowsBefore > 50, "flows in progress stay in the table")
        #expect(agent.pipeline?.dataPath === dataPath)
        #expect(dataPath.monitor.reassembler?.counters.deliveredBytes == bytesBefore)
        let secondBurst = agent.nextBurst()
        for packet in packets[third..<(2 * third)] { _ = try secondBurst.process(packet) }
        // 3: the SQL rule added (a rule change).
        let withSQL = try await push(idsChain(dynamic: false), rules: [sshRule, loginRule, sqlRule].joined(separator: "\n"))
        let lastBurst = agent.nextBurst()
        for packet in packets[(2 * third)...] { _ = try lastBurst.process(packet) }
        try agent.finish(timestamp: packets.last!.timestamp)

        #expect(await eventually { session.spool.pendingCount == 0 })
        var query = Mbox_V1_AlertQuery()
        query.limit = 100_000
        let alerts = try await running.controller.store.allAlerts(matching: query)
        func sids(_ version: UInt64) -> Set<UInt32> { Set(alerts.filter { $0.configVersion == version }.map(\.sid)) }
        #expect(sids(dynamic) == [1_000_002], "HTTP only: the login rule, not the SSH banner")
        #expect(sids(everything) == [1_000_002, 1_000_003], "every stream: SSH banners too")
        #expect(sids(withSQL) == [1_000_001, 1_000_002, 1_000_003], "and the new SQL rule")
        #expect(alerts.allSatisfy { $0.agent == "edge-1" && $0.chain == "ids-edge" })
        #expect(UInt64(alerts.count) == session.spool.lastAcknowledged, "every spooled alert stored once")
        // The agent's report of the last version reaches the controller's store in its next
        // coalesced write.
        let reported = try await eventually {
            let agents = try await running.controller.agents()
            return agents.first?.appliedVersion == withSQL && agents.first?.desiredVersion == withSQL
        }
        #expect(reported, "the controller records the version the agent runs")
        sessionTask.cancel()
        await running.stop()
    }
}

import Foundation
import MBoxAgentControl
import MBoxControl
import MBoxController
import MBoxProto
import Testing

@Suite("Faults: no alert lost or doubled", .serialized)
struct FaultTests {
    static func session(_ pki: TestPKI, port: Int, scratch: ScratchDirectory) throws -> ControlSession {
        let settings = ControlSession.Settings(controller: ControlEndpoint(host: "127.0.0.1", port: port), tls: pki.files("edge-1"),
                                               stateDirectory: scratch.file("agent"))
        return try ControlSession(settings: settings, spool: try AlertSpool(directory: scratch.file("agent/spool")),
                                  slot: ConfigSlot(), counters: AgentCounters()) { _ in }
    }

    @Test("Controller killed (SIGKILL) while alerts stream, then restarted: every alert stored exactly once")
    func controllerKilled() async throws {
        let controllerBinary = try #require(builtCommand("mbox-controller"), "run `swift build` first")
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let database = scratch.file("c.db")
        func startController(port: Int) throws -> Launched {
            try Launched(controllerBinary, ["serve", "--listen", "127.0.0.1:\(port)", "--db", database, "--pki", pki.directory],
                         log: scratch.file("controller-\(UUID().uuidString).log"))
        }
        var controller = try startController(port: 0)
        let port = try #require(await controller.listeningPort(), "\(controller.log)")

        let total = 60_000
        let session = try Self.session(pki, port: port, scratch: scratch)
        for index in 0..<total { try #require(session.spool.append(syntheticAlert(index))) }
        let task = Task.detached { await session.run() }
        defer { task.cancel() }
        try #require(await eventually { session.spool.lastAcknowledged > 0 })
        controller.kill9()
        let pendingAtKill = session.spool.pendingCount
        try #require(pendingAtKill > 0, "the kill came after everything was delivered; nothing was tested")

        controller = try startController(port: port)
        let drained = await eventually(seconds: 90) { session.spool.pendingCount == 0 }
        #expect(drained, "still pending: \(session.spool.pendingCount)")
        task.cancel()
        #expect(controller.stop() == 0)

        let store = try SQLiteStore(path: database)
        #expect(try await store.alertCount() == total)
        var query = Mbox_V1_AlertQuery()
        query.limit = 100_000
        let stored = try await store.allAlerts(matching: query)
        #expect(Set(stored.map(\.sequence)) == Set((1...total).map(UInt64.init)))
        #expect(Set(stored.map(\.flowID)) == Set((0..<total).map(UInt64.init)))
        #expect(stored.allSatisfy { $0.agent == "edge-1" && $0.spoolID == session.spool.spoolID })
    }

    @Test("Agent cut off: alerts wait in the spool, the session reconnects with backoff and the spool drains")
    func agentCutOff() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let store = try SQLiteStore(path: scratch.file("c.db"))
        var running = try await RunningController(store: store, pki: pki)
        let port = running.port
        let session = try Self.session(pki, port: port, scratch: scratch)
        let task = Task.detached { await session.run() }
        defer { task.cancel() }
        for index in 0..<1000 { session.spool.append(syntheticAlert(index)) }
        #expect(await eventually { session.spool.pendingCount == 0 })

        await running.stop()
        #expect(await eventually { !session.isConnected })
        for index in 1000..<3000 { session.spool.append(syntheticAlert(index)) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(session.spool.pendingCount == 2000, "nothing leaves the spool without an acknowledgement")

        running = try await RunningController(store: store, pki: pki, port: port)
        #expect(await eventually { session.spool.pendingCount == 0 })
        #expect(try await store.alertCount() == 3000)
        task.cancel()
        await running.stop()
    }
}

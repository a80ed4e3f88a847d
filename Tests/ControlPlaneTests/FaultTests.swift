import Foundation
import MBoxAgentControl
import MBoxRuntime
import MBoxControlPlane
import MBoxControllerCore
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
        let fixture = try await StoreFixture.make(testStoreKind)
        func startController(port: Int) throws -> Launched {
            try Launched(controllerBinary, ["serve", "--listen", "127.0.0.1:\(port)", "--pki", pki.directory] + fixture.arguments,
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

        let store = try await fixture.open()
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
        let (store, fixture) = try await makeTestStore()
        defer { withExtendedLifetime(fixture) {} }
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

        // The same port again (another test's connection may hold it for a moment).
        var restarted: RunningController?
        for _ in 0..<40 where restarted == nil {
            restarted = try? await RunningController(store: store, pki: pki, port: port)
            if restarted == nil { try await Task.sleep(for: .milliseconds(250)) }
        }
        running = try #require(restarted, "port \(port) stayed taken")
        #expect(await eventually { session.spool.pendingCount == 0 })
        #expect(try await store.alertCount() == 3000)
        task.cancel()
        await running.stop()
    }

    @Test("PostgreSQL restarted while alerts stream: ingest fails for a while, nothing is lost or doubled, writes resume")
    func databaseRestarted() async throws {
        let fixture = try await StoreFixture.make(.postgres)
        let server = try #require(fixture.server)
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let store = try await fixture.open()
        let running = try await RunningController(store: store, pki: pki)
        let session = try Self.session(pki, port: running.port, scratch: scratch)
        let total = 60_000
        for index in 0..<total { try #require(session.spool.append(syntheticAlert(index))) }
        let task = Task.detached { await session.run() }
        defer { task.cancel() }
        try #require(await eventually { session.spool.lastAcknowledged > 0 })
        try server.stop()
        let pendingAtStop = session.spool.pendingCount
        try #require(pendingAtStop > 0, "everything was delivered before the database stopped; nothing was tested")
        try await Task.sleep(for: .seconds(2))
        #expect(session.spool.pendingCount > 0, "acknowledged while the database was down")
        try server.start()
        let drained = await eventually(seconds: 90) { session.spool.pendingCount == 0 }
        #expect(drained, "still pending: \(session.spool.pendingCount)")
        #expect(try await store.alertCount() == total)
        var query = Mbox_V1_AlertQuery()
        query.limit = UInt32(total)
        let stored = try await store.allAlerts(matching: query)
        #expect(Set(stored.map(\.flowID)) == Set((0..<total).map(UInt64.init)))
        task.cancel()
        await running.stop()
    }
}

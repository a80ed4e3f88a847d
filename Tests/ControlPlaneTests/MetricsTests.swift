import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MBoxControl
import MBoxController
import MBoxProto
import Testing

@Suite("Prometheus metrics")
struct MetricsTests {
    @Test("GET /metrics: the controller's counters and each agent's last report; other paths 404")
    func scrape() async throws {
        let scratch = try ScratchDirectory()
        let controller = Controller(store: try SQLiteStore(path: scratch.file("c.db")))
        var register = Mbox_V1_RegisterRequest()
        register.name = "edge-1"
        _ = try await controller.register(PeerIdentity(role: .agent, name: "edge-1"), register)
        var stats = Mbox_V1_AgentStats()
        stats.packets = 12_345
        stats.alerts = 7
        stats.spoolPending = 3
        try await controller.stats("edge-1", stats)
        let alerts = (1...5).map { index -> Mbox_V1_Alert in
            var alert = syntheticAlert(index)
            alert.sequence = UInt64(index)
            return alert
        }
        _ = try await controller.ingest("edge-1", alerts)
        _ = try await controller.ingest("edge-1", Array(alerts.prefix(2)))

        let server = try await MetricsServer(host: "127.0.0.1", port: 0) { (try? await controller.metricsText()) ?? "" }
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(server.port)/metrics")!)
        let text = String(decoding: data, as: UTF8.self)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(text.contains("mbox_alerts_stored_total 5\n"), "\(text)")
        #expect(text.contains("mbox_alerts_duplicate_total 2\n"))
        #expect(text.contains(#"mbox_agent_packets{agent="edge-1"} 12345"#))
        #expect(text.contains(#"mbox_agent_spool_pending{agent="edge-1"} 3"#))
        #expect(text.contains(#"mbox_agent_connected{agent="edge-1"} 0"#))
        #expect(text.contains("# TYPE mbox_agent_packets gauge"))
        let (_, missing) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(server.port)/other")!)
        #expect((missing as? HTTPURLResponse)?.statusCode == 404)
        await server.close()
    }
}

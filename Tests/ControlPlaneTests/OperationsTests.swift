import Foundation
import GRPCCore
import MBoxControlPlane
import MBoxControllerCore
import MBoxProto
import Testing

/// What operators rely on day to day: who changed what, alerts kept within bounds, queries
/// that stay fast as the store grows.
@Suite("Operations: audit log, retention, indexes", .serialized)
struct OperationsTests {
    @Test("Applies and deletes — refused ones too — are audited with the operator's name, certificate and address")
    func auditLog() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let running = try await RunningController(in: scratch, pki: pki)
        try await withClient(running.endpoint, tls: pki.files("alice")) { client in
            let service = Mbox_V1_OperatorService.Client(wrapping: client)
            var request = Mbox_V1_ApplyChainRequest()
            request.spec = chainSpec(firewallChain(name: "edge-fw", droppingPort: 23), rules: [:])
            _ = try await service.applyChain(request, options: shortDeadline)
            request.spec = chainSpec("name: broken\nfunctions: 3\n", rules: [:])
            request.spec.name = "broken"
            _ = await SecurityTests.rpcError { _ = try await service.applyChain(request, options: shortDeadline) }
            var delete = Mbox_V1_DeleteChainRequest()
            delete.name = "edge-fw"
            _ = try await service.deleteChain(delete, options: shortDeadline)
        }
        let result = try await OperatorCLITests.ctl(["audit", "-o", "json"], pki: pki, port: running.port)
        try #require(result.status == 0, "\(result.stderr)")
        let entries = try result.stdout.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        #expect(entries.map { $0["action"] as? String } == ["apply", "apply", "delete"])
        #expect(entries.map { $0["outcome"] as? String }.first == "created")
        #expect((entries[1]["outcome"] as? String)?.hasPrefix("refused: ") == true, "\(entries[1])")
        #expect(entries[2]["outcome"] as? String == "deleted" && (entries[2]["revision"] as? Int ?? 0) > 0)
        #expect(entries.allSatisfy { $0["operator"] as? String == "alice" })
        #expect(entries.allSatisfy { ($0["peer"] as? String ?? "").contains("127.0.0.1") })
        // The fingerprint is the certificate's: SHA-256 over its DER, as openssl computes it.
        let fingerprint = try #require(entries.first?["certificate_sha256"] as? String)
        let openssl = try await runCommandOffPool("/usr/bin/openssl", ["x509", "-in", pki.files("alice").certificate, "-noout", "-fingerprint", "-sha256"])
        #expect(openssl.stdout.uppercased().replacingOccurrences(of: ":", with: "").contains(fingerprint.uppercased()),
                "\(openssl.stdout) vs \(fingerprint)")
        await running.stop()
    }

    @Test("Retention prunes by age and by count, and the newest stay")
    func retention() async throws {
        let (store, fixture) = try await makeTestStore()
        defer { withExtendedLifetime(fixture) {} }
        let now = Int64(Date().timeIntervalSince1970 * 1_000_000)
        let day: Int64 = 86_400_000_000
        // 30,000 alerts, one every 4.32 s over the last 1.5 days... as timestamps in the past.
        for start in stride(from: 0, to: 30_000, by: 5_000) {
            let batch = (start..<start + 5_000).map { index -> Mbox_V1_Alert in
                var alert = syntheticAlert(index)
                alert.sequence = UInt64(index + 1)
                alert.timestampUs = now - day * 3 / 2 + Int64(index) * (day * 3 / 2 / 30_000)
                return alert
            }
            _ = try await store.insertAlerts(batch, agent: "edge-1")
        }
        let controller = Controller(store: store)
        // Older than a day: the first third goes.
        let byAge = try await controller.prune(AlertRetention(maximumAge: 86_400))
        #expect((9_990...10_010).contains(byAge), "\(byAge)")
        #expect(try await store.alertCount() == 30_000 - byAge)
        // Then at most 5,000: the newest stay.
        let byCount = try await controller.prune(AlertRetention(maximumCount: 5_000))
        #expect(byCount == 30_000 - byAge - 5_000)
        var query = Mbox_V1_AlertQuery()
        query.limit = 10_000
        #expect(try await store.allAlerts(matching: query).map(\.sequence) == Array(25_001...30_000))
    }

    @Test("Every filter mboxctl alerts offers is answered from an index, in time order")
    func indexedQueries() throws {
        let scratch = try ScratchDirectory()
        let store = try SQLiteStore(path: scratch.file("c.db"))
        var queries: [(String, Mbox_V1_AlertQuery)] = []
        var query = Mbox_V1_AlertQuery()
        query.agent = "edge-1"
        queries.append(("agent", query))
        query = Mbox_V1_AlertQuery()
        query.sid = 2_000_001
        queries.append(("sid", query))
        query = Mbox_V1_AlertQuery()
        query.ip = "10.0.0.1"
        queries.append(("ip", query))
        query = Mbox_V1_AlertQuery()
        query.sinceUnixUs = 1
        queries.append(("since", query))
        query = Mbox_V1_AlertQuery()
        queries.append(("none", query))
        for (name, query) in queries {
            let (sql, arguments) = try SQLiteStore.alertSQL(query)
            let plan = try store.queryPlan(sql, arguments: arguments)
            if name == "none" {
                // Nothing to search by: the time index gives the order, no sort.
                #expect(plan.contains { $0.contains("USING INDEX alerts_time") }, "\(name): \(plan)")
            } else {
                // Looked up by the filter's own column, not a scan filtered row by row.
                let column = ["agent": "agent=?", "sid": "sid=?", "ip": "src_ip=?", "since": "timestamp_us>?"][name]!
                #expect(plan.contains { $0.hasPrefix("SEARCH alerts USING") && $0.contains(column) }, "\(name): \(plan)")
            }
            // Either address matches through two indexes, whose rows are then merged in order;
            // every other filter's index already gives the time order.
            if name != "ip" { #expect(!plan.contains { $0.contains("TEMP B-TREE") }, "\(name): sorted after the fact: \(plan)") }
        }
    }
}

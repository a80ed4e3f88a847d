import Foundation
import MBoxControlPlane
import MBoxControllerCore
import MBoxProto
import Testing

/// `mboxctl` as operators run it, against a controller in this process.
@Suite("mboxctl: paging, JSON, refused certificates", .serialized)
struct OperatorCLITests {
    static func ctl(_ arguments: [String], pki: TestPKI, port: Int, as name: String = "alice") async throws
        -> (status: Int32, stdout: String, stderr: String) {
        let binary = try #require(builtCommand("mboxctl"), "run `swift build` first")
        return try await runCommandOffPool(binary, arguments + ["--controller", "127.0.0.1:\(port)", "--pki", pki.directory, "--as", name])
    }

    @Test("30,000 alerts (over 4 MiB as one answer) come back whole, oldest first, each with agent, spool and sequence")
    func pagedAlerts() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let running = try await RunningController(in: scratch, pki: pki)
        let total = 30_000
        for start in stride(from: 0, to: total, by: 2_000) {
            let batch = (start..<start + 2_000).map { index -> Mbox_V1_Alert in
                var alert = syntheticAlert(index)
                alert.sequence = UInt64(index + 1)
                alert.spoolID = 77
                alert.signature = "synthetic \(index % 7) " + String(repeating: "s", count: 200)
                return alert
            }
            _ = try await running.controller.ingest("edge-1", batch)
        }
        let result = try await Self.ctl(["alerts", "-o", "json", "--limit", "\(total)"], pki: pki, port: running.port)
        try #require(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == total)
        let objects = try lines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let sequences = objects.compactMap { ($0["mbox"] as? [String: Any])?["sequence"] as? Int }
        #expect(sequences == Array(1...total), "oldest first, none missing or doubled")
        #expect(objects.allSatisfy { ($0["mbox"] as? [String: Any])?["spool_id"] as? Int == 77 && $0["host"] as? String == "edge-1" })
        let timestamp = try #require(objects.first?["timestamp"] as? String)
        #expect(timestamp.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+0000/) != nil, "\(timestamp)")
        #expect(timestamp == "2023-11-14T22:13:20.000000+0000")

        // A limit below the total: the newest ones.
        let newest = try await Self.ctl(["alerts", "-o", "json", "--limit", "15000"], pki: pki, port: running.port)
        let newestSequences = newest.stdout.split(separator: "\n").compactMap {
            ((try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]).flatMap { ($0["mbox"] as? [String: Any])?["sequence"] as? Int }
        }
        #expect(newestSequences == Array(15_001...total))
        await running.stop()
    }

    @Test("get agents -o json: every field, counters as numbers, zeros kept")
    func agentsJSON() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let running = try await RunningController(in: scratch, pki: pki)
        var record = AgentRecord(name: "edge-1")
        record.labels = ["role": "ids"]
        record.desiredVersion = 12_345_678_901
        record.stats.packets = 5_000_000_000
        try await running.controller.store.putAgent(record)
        let result = try await Self.ctl(["get", "agents", "-o", "json"], pki: pki, port: running.port)
        try #require(result.status == 0, "\(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["desired_version"] as? Int == 12_345_678_901)
        #expect(object["applied_version"] as? Int == 0)
        #expect(object["connected"] as? Bool == false)
        let stats = try #require(object["stats"] as? [String: Any])
        #expect(stats["packets"] as? Int == 5_000_000_000)
        #expect(stats["alerts"] as? Int == 0 && stats["port_missed"] as? Int == 0)
        await running.stop()
    }

    @Test("A certificate from another CA: mboxctl says the controller refused it, not that it is unreachable")
    func refusedCertificate() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let other = try TestPKI(in: scratch, name: "other-pki")
        let running = try await RunningController(in: scratch, pki: pki)
        let binary = try #require(builtCommand("mboxctl"), "run `swift build` first")
        // The stranger trusts our controller (so only the controller's check can refuse it).
        let result = try await runCommandOffPool(binary, ["get", "agents", "--controller", "127.0.0.1:\(running.port)",
                                             "--cert", other.files("alice").certificate, "--key", other.files("alice").key,
                                             "--ca", pki.files("alice").ca])
        #expect(result.status != 0)
        #expect(result.stderr.contains("refused our certificate"), "\(result.stderr)")
        // And a controller our CA does not vouch for is named as such.
        let wrongServer = try await runCommandOffPool(binary, ["get", "agents", "--controller", "127.0.0.1:\(running.port)",
                                                  "--cert", other.files("alice").certificate, "--key", other.files("alice").key,
                                                  "--ca", other.files("alice").ca])
        #expect(wrongServer.status != 0)
        #expect(wrongServer.stderr.contains("does not vouch for"), "\(wrongServer.stderr)")
        await running.stop()
    }
}

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import MBoxAgentControl
import MBoxRuntime
import MBoxControlPlane
import MBoxControllerCore
import MBoxPacket
import MBoxProto
import MBoxTrafficGen
import Testing

@Suite("Prometheus metrics")
struct MetricsTests {
    @Test("GET /metrics: the controller's counters and each agent's last report; other paths 404")
    func scrape() async throws {
        _ = try ScratchDirectory()
        let (store, fixture) = try await makeTestStore()
        defer { withExtendedLifetime(fixture) {} }
        let controller = Controller(store: store)
        var register = Mbox_V1_RegisterRequest()
        register.name = "edge-1"
        _ = try await controller.register(PeerIdentity(role: .agent, name: "edge-1"), register)
        var stats = Mbox_V1_AgentStats()
        stats.packets = 12_345
        stats.alerts = 7
        stats.spoolPending = 3
        stats.portMissed = 9
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
        #expect(text.contains(#"mbox_agent_port_missed{agent="edge-1"} 9"#))
        #expect(text.contains(#"mbox_agent_connected{agent="edge-1"} 0"#))
        #expect(text.contains("# TYPE mbox_agent_packets gauge"))
        let (_, missing) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(server.port)/other")!)
        #expect((missing as? HTTPURLResponse)?.statusCode == 404)
        await server.close()
    }

    @Test("an agent's report: its workers' totals summed, and what its ports lost as the devices count it")
    func agentReport() {
        let counters = AgentCounters(workers: 2, devices: { (missed: 7, noMbuf: 3) })
        counters.publish(worker: 0, packets: 100, bytes: 6_400, flows: 4, alerts: 1, dropped: 2, malformed: 0)
        counters.publish(worker: 1, packets: 50, bytes: 3_200, flows: 3, alerts: 0, dropped: 0, malformed: 5)
        let stats = counters.snapshot()
        #expect([stats.packets, stats.bytes, stats.flows, stats.alerts, stats.dropped, stats.malformed] == [150, 9_600, 7, 1, 2, 5])
        #expect(stats.portMissed == 7 && stats.portNoMbuf == 3)
        #expect(counters.snapshot(worker: 1).packets == 50)
        #expect(AgentCounters(workers: 1).snapshot().portMissed == 0)
    }

    /// A scrape as sample name with labels (`name{label="value"}`) → value.
    private func scrape(_ port: Int) async throws -> [String: Double] {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        var samples: [String: Double] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    /// The port in the agent's "metrics at http://HOST:PORT/metrics" line.
    private func metricsPort(_ agent: Launched) async -> Int? {
        guard let line = await agent.line(containing: "metrics at http://") else { return nil }
        return line.split(separator: ":").last.flatMap { Int($0.prefix { $0.isNumber }) }
    }

    private func capture(in scratch: ScratchDirectory, malformed: Double = 0) throws -> GenerationSummary {
        var profile = TrafficProfile(seed: 91, flows: 150, attack: "UNION SELECT", attackShare: 0.3)
        profile.malformed = malformed
        return try generate(profile, to: scratch.file("in.pcap"))
    }

    @Test("mbox-agent run --metrics: hostile traffic's malformed packets by reason, as the generator wrote them")
    func malformedByReason() async throws {
        let agentPath = try #require(builtCommand("mbox-agent"), "build first: swift build")
        let scratch = try ScratchDirectory()
        let summary = try capture(in: scratch, malformed: 0.2)
        #expect(summary.malformed.count >= 5, "\(summary.malformed)")
        let agent = try Launched(agentPath, ["run", "--pcap", scratch.file("in.pcap"), "--metrics", "127.0.0.1:0"],
                                 log: scratch.file("agent.log"))
        let port = try #require(await metricsPort(agent), "\(agent.log)")
        #expect(await agent.line(containing: "end of ") != nil, "\(agent.log)")
        let samples = try await scrape(port)
        #expect(agent.stop() == 0)
        #expect(samples[#"mbox_packets_total{worker="0"}"#] == Double(summary.packets))
        #expect(samples[#"mbox_malformed_total{worker="0"}"#] == Double(summary.malformed.values.reduce(0, +)))
        for reason in MalformedReason.allCases {
            #expect(samples["mbox_malformed_by_reason_total{worker=\"0\",reason=\"\(reason)\"}"] == Double(summary.malformed["\(reason)"] ?? 0),
                    "\(reason)")
        }
    }

    @Test("mbox-agent run --metrics: the worker's packets, bytes and flows are the capture's, its alerts the EVE file's")
    func agentScrape() async throws {
        let agentPath = try #require(builtCommand("mbox-agent"), "build first: swift build")
        let scratch = try ScratchDirectory()
        let summary = try capture(in: scratch)
        let agent = try Launched(agentPath, ["run", "--pcap", scratch.file("in.pcap"), "--rules", packageRoot + "/rules/web-attacks.rules",
                                             "--eve", scratch.file("eve.json"), "--metrics", "127.0.0.1:0"],
                                 log: scratch.file("agent.log"))
        let port = try #require(await metricsPort(agent), "\(agent.log)")
        #expect(await agent.line(containing: "end of ") != nil, "\(agent.log)")
        let samples = try await scrape(port)
        #expect(agent.stop() == 0)
        #expect(samples[#"mbox_packets_total{worker="0"}"#] == Double(summary.packets), "\(samples)")
        #expect(samples[#"mbox_bytes_total{worker="0"}"#] == Double(summary.bytes))
        #expect(samples[#"mbox_flows_total{worker="0"}"#] == Double(summary.tcpFlows + summary.udpFlows))
        #expect(samples[#"mbox_malformed_total{worker="0"}"#] == 0)
        // Every flow of the capture closes, so every alert was raised before the scrape.
        let alerts = try String(contentsOfFile: scratch.file("eve.json"), encoding: .utf8).split(separator: "\n").count
        #expect(alerts > 0)
        #expect(samples[#"mbox_alerts_total{worker="0"}"#] == Double(alerts))
    }

    @Test("mbox-agent run --metrics on DPDK, inline with two workers: each port's counters against tshark's count of the capture",
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/include/dpdk/rte_eal.h"), "DPDK is not installed"))
    func agentScrapeOnDPDK() async throws {
        let agentPath = try #require(builtCommand("mbox-agent"), "build first: swift build")
        let scratch = try ScratchDirectory()
        let summary = try capture(in: scratch)
        // A firewall that drops SSH flows (both directions): tshark counts their packets.
        let ssh = try runCommand("/usr/bin/tshark", ["-r", scratch.file("in.pcap"), "-Y", "tcp.port == 22", "-T", "fields", "-e", "frame.number"])
        let sshPackets = Double(ssh.stdout.split(separator: "\n").count)
        #expect(sshPackets > 0)
        try firewallChain(name: "drop-ssh", droppingPort: 22).write(toFile: scratch.file("drop-ssh.yaml"), atomically: true, encoding: .utf8)
        let eal = "--no-huge -m 512 --no-pci --no-shconf --no-telemetry --lcores=0@(0-1),1@(0-1),2@(0-1) "
            + "--vdev=net_pcap0,rx_pcap=\(scratch.file("in.pcap")) --vdev=net_pcap1,tx_pcap=\(scratch.file("out.pcap"))"
        let agent = try Launched(agentPath, ["run", "--dpdk", eal, "--port", "net_pcap0", "--out-port", "net_pcap1", "--workers", "2",
                                             "--chain", scratch.file("drop-ssh.yaml"), "--metrics", "127.0.0.1:0"],
                                 log: scratch.file("agent.log"))
        let port = try #require(await metricsPort(agent), "\(agent.log)")
        func workers(_ name: String, _ samples: [String: Double]) -> [Double] {
            (0..<2).map { samples["\(name){worker=\"\($0)\"}"] ?? 0 }
        }
        func sample(_ name: String, _ port: String, _ samples: [String: Double]) -> Double? { samples["\(name){port=\"\(port)\"}"] }
        var samples: [String: Double] = [:]
        let counted = try await eventually(seconds: 20) {
            samples = try await scrape(port)
            return sample("mbox_port_tx_packets_total", "net_pcap1", samples) == Double(summary.packets) - sshPackets
        }
        #expect(agent.stop() == 0)
        #expect(counted, "\(samples)")
        #expect(sample("mbox_port_rx_packets_total", "net_pcap0", samples) == Double(summary.packets))
        #expect(sample("mbox_port_rx_bytes_total", "net_pcap0", samples) == Double(summary.bytes))
        #expect(sample("mbox_port_rx_missed_total", "net_pcap0", samples) == 0)
        #expect(sample("mbox_port_dropped_by_verdict_total", "net_pcap0", samples) == sshPackets)
        #expect(sample("mbox_port_tx_refused_total", "net_pcap1", samples) == 0)
        #expect(workers("mbox_packets_total", samples).reduce(0, +) == Double(summary.packets))
        #expect(workers("mbox_packets_total", samples).allSatisfy { $0 > 0 })
        #expect(workers("mbox_dropped_total", samples).reduce(0, +) == sshPackets)
        #expect(workers("mbox_flows_total", samples).reduce(0, +) == Double(summary.tcpFlows + summary.udpFlows))
    }
}

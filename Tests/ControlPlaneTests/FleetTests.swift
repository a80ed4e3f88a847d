import Foundation
import MBoxTrafficGen
import Testing

/// The whole fleet as an operator runs it: the three commands as separate processes on
/// loopback with real mutual TLS, certificates made by `mboxctl pki`.
@Suite("Fleet: controller, agents and mboxctl as processes", .serialized)
struct FleetTests {
    struct Commands {
        let controller: String
        let agent: String
        let ctl: String

        init() throws {
            controller = try #require(builtCommand("mbox-controller"), "run `swift build` first")
            agent = try #require(builtCommand("mbox-agent"), "run `swift build` first")
            ctl = try #require(builtCommand("mboxctl"), "run `swift build` first")
        }
    }

    /// Development certificates made by `mboxctl pki`, a controller process on a free
    /// loopback port, and `mboxctl` as operator `alice`.
    struct Fleet {
        let commands: Commands
        let scratch: ScratchDirectory
        let pki: String
        let controller: Launched
        let address: String
        let store: StoreFixture

        init(agents: [String], controllerArguments: [String] = []) async throws {
            commands = try Commands()
            store = try await StoreFixture.make(testStoreKind)
            scratch = try ScratchDirectory()
            pki = scratch.file("pki")
            let (commands, pki) = (commands, pki)
            func issue(_ arguments: [String]) async throws {
                let result = try await runCommandOffPool(commands.ctl, ["pki"] + arguments + ["--dir", pki])
                try #require(result.status == 0, "mboxctl pki \(arguments.joined(separator: " ")): \(result.stderr)")
            }
            try await issue(["init"])
            for (role, name) in [("controller", "controller"), ("operator", "alice")] + agents.map({ ("agent", $0) }) {
                try await issue(["issue", role, name])
            }
            controller = try Launched(commands.controller, ["serve", "--listen", "127.0.0.1:0", "--pki", pki] + store.arguments
                                          + controllerArguments,
                                      log: scratch.file("controller.log"))
            guard let port = await controller.listeningPort() else {
                controller.stop()
                throw FleetError(log: controller.log)
            }
            address = "127.0.0.1:\(port)"
        }

        /// `mboxctl ARGUMENTS` as alice; its output (the test fails on a non-zero exit). Waited
        /// for off Swift's shared threads, which in-process controllers of other suites need.
        func ctl(_ arguments: [String]) async throws -> String {
            let result = try await runCommandOffPool(commands.ctl, arguments + ["--controller", address, "--pki", pki, "--as", "alice"])
            try #require(result.status == 0, "mboxctl \(arguments.joined(separator: " ")): \(result.stderr)")
            return result.stdout
        }

        /// `mbox-agent run …` under this controller as `name`, waiting for its registration.
        func agent(_ name: String, source: [String], labels: String) async throws -> Launched {
            let agent = try Launched(commands.agent, ["run"] + source + [
                "--controller", address, "--pki", pki, "--name", name, "--labels", labels,
                "--state-dir", scratch.file("state-\(name)"), "--wait-for-config",
            ], log: scratch.file("\(name).log"))
            try #require(await agent.line(containing: "registered with") != nil, "\(name): \(agent.log)")
            return agent
        }
    }

    struct FleetError: Error, CustomStringConvertible {
        let log: String
        var description: String { "the controller did not start: \(log)" }
    }

    /// (sid, src, sport, dst, dport) of EVE alert lines, counted.
    static func alertKeys(_ lines: [String]) throws -> [String: Int] {
        var keys: [String: Int] = [:]
        for line in lines where !line.isEmpty {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let alert = try #require(object["alert"] as? [String: Any])
            let key = "\(alert["signature_id"]!) \(object["src_ip"]!):\(object["src_port"]!) -> \(object["dest_ip"]!):\(object["dest_port"]!)"
            keys[key, default: 0] += 1
        }
        return keys
    }

    @Test("Apply by label → the selected agents run the chain → their alerts reach the controller, equal to standalone runs")
    func applyByLabel() async throws {
        let fleet = try await Fleet(agents: ["edge-1", "edge-2", "web-1"])
        defer { fleet.controller.stop() }
        let (commands, scratch) = (fleet.commands, fleet.scratch)

        // The chain and its rules, as an operator keeps them in git.
        try FileManager.default.createDirectory(atPath: scratch.file("policy/rules"), withIntermediateDirectories: true)
        try String(contentsOfFile: packageRoot + "/rules/web-attacks.rules", encoding: .utf8)
            .write(toFile: scratch.file("policy/rules/web.rules"), atomically: true, encoding: .utf8)
        let chain = try String(contentsOfFile: packageRoot + "/chains/fleet/ids-edge.yaml", encoding: .utf8)
            .replacingOccurrences(of: "../../rules/web-attacks.rules", with: "rules/web.rules")
        try chain.write(toFile: scratch.file("policy/ids-edge.yaml"), atomically: true, encoding: .utf8)

        var agents: [String: Launched] = [:]
        defer { agents.values.forEach { $0.stop() } }
        for (index, (name, labels)) in [("edge-1", "role=ids,site=a"), ("edge-2", "role=ids,site=b"), ("web-1", "role=web")].enumerated() {
            var profile = TrafficProfile(seed: UInt64(40 + index), flows: 250, attack: "UNION SELECT", attackShare: 0.3)
            profile.attackSegments = 3
            profile.outOfOrder = 0.1
            try generate(profile, to: scratch.file("\(name).pcap"))
            agents[name] = try await fleet.agent(name, source: ["--pcap", scratch.file("\(name).pcap")], labels: labels)
        }

        let applied = try await fleet.ctl(["apply", "-f", scratch.file("policy/ids-edge.yaml")])
        #expect(applied.contains("chain/ids-edge created") && applied.contains("edge-1, edge-2") && !applied.contains("web-1"))

        for name in ["edge-1", "edge-2"] {
            let oracle = try runCommand(commands.agent, ["replay", "--pcap", scratch.file("\(name).pcap"), "--chain",
                                                         scratch.file("policy/ids-edge.yaml"), "--eve", scratch.file("\(name).eve")])
            try #require(oracle.status == 0, "\(oracle.stderr)")
            let expected = try Self.alertKeys(try String(contentsOfFile: scratch.file("\(name).eve"), encoding: .utf8)
                .split(separator: "\n").map(String.init))
            try #require(expected.values.reduce(0, +) > 20)
            var received: [String: Int] = [:]
            let complete = try await eventually(seconds: 60) {
                let json = try await fleet.ctl(["alerts", "-o", "json", "--agent", name, "--limit", "100000"])
                received = try Self.alertKeys(json.split(separator: "\n").map(String.init))
                return received.values.reduce(0, +) >= expected.values.reduce(0, +)
            }
            #expect(complete, "\(name): \(received.values.reduce(0, +)) of \(expected.values.reduce(0, +)) alerts arrived")
            #expect(received == expected, "\(name)'s alerts at the controller equal its standalone run's")
        }
        let web = try await fleet.ctl(["alerts", "-o", "json", "--agent", "web-1"])
        #expect(web.isEmpty, "no chain was placed on web-1")

        let listing = try await fleet.ctl(["get", "agents", "-o", "json"])
        let rows = try listing.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let byName = Dictionary(uniqueKeysWithValues: rows.map { ($0["name"] as! String, $0) })
        #expect(byName["edge-1"]?["chain"] as? String == "ids-edge")
        #expect(byName["edge-1"]?["applied_version"] as? Int == byName["edge-1"]?["desired_version"] as? Int)
        #expect((byName["edge-1"]?["applied_version"] as? Int ?? 0) > 0)
        #expect(byName["web-1"]?["chain"] as? String == "")
        #expect(byName["web-1"]?["connected"] as? Bool == true)
        let table = try await fleet.ctl(["get", "chains"])
        #expect(table.contains("ids-edge") && table.contains("role=ids") && table.contains("rules/web.rules"))

        for (name, agent) in agents { #expect(agent.stop() == 0, "\(name): \(agent.log)") }
        #expect(fleet.controller.stop() == 0, "\(fleet.controller.log)")
    }

    @Test("An agent with two DPDK workers under the controller: both run the pushed chain, every alert arrives, stats are their sum",
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/include/dpdk/rte_eal.h"), "DPDK is not installed"))
    func workersUnderController() async throws {
        let fleet = try await Fleet(agents: ["edge-1"])
        defer { fleet.controller.stop() }
        let (commands, scratch) = (fleet.commands, fleet.scratch)
        var profile = TrafficProfile(seed: 61, flows: 300, attack: "UNION SELECT", attackShare: 0.3)
        profile.attackSegments = 3
        let generated = try generate(profile, to: scratch.file("edge.pcap"))
        let chain = try String(contentsOfFile: packageRoot + "/chains/fleet/ids-edge.yaml", encoding: .utf8)
            .replacingOccurrences(of: "../../rules/web-attacks.rules", with: packageRoot + "/rules/web-attacks.rules")
        try chain.write(toFile: scratch.file("ids-edge.yaml"), atomically: true, encoding: .utf8)

        // net_pcap has no RSS: the software distributor spreads flows over the two workers.
        let eal = "--no-huge -m 512 --no-pci --no-shconf --no-telemetry --lcores=0@(0-1),1@(0-1),2@(0-1) "
            + "--vdev=net_pcap0,rx_pcap=\(scratch.file("edge.pcap"))"
        let agent = try await fleet.agent("edge-1", source: ["--dpdk", eal, "--workers", "2"], labels: "role=ids")
        defer { agent.stop() }
        _ = try await fleet.ctl(["apply", "-f", scratch.file("ids-edge.yaml")])
        let oracle = try runCommand(commands.agent, ["replay", "--pcap", scratch.file("edge.pcap"), "--chain",
                                                     scratch.file("ids-edge.yaml"), "--eve", scratch.file("oracle.eve")])
        try #require(oracle.status == 0, "\(oracle.stderr)")
        let expected = try Self.alertKeys(try String(contentsOfFile: scratch.file("oracle.eve"), encoding: .utf8)
            .split(separator: "\n").map(String.init))
        try #require(expected.values.reduce(0, +) > 20)
        var received: [String: Int] = [:]
        let complete = try await eventually(seconds: 60) {
            let json = try await fleet.ctl(["alerts", "-o", "json", "--agent", "edge-1", "--limit", "100000"])
            received = try Self.alertKeys(json.split(separator: "\n").map(String.init))
            return received.values.reduce(0, +) >= expected.values.reduce(0, +)
        }
        #expect(complete, "\(received.values.reduce(0, +)) of \(expected.values.reduce(0, +)) alerts arrived; \(agent.log)")
        #expect(received == expected, "the two workers' alerts at the controller equal a standalone run's")
        // The controller counts every packet once: the workers' counters are summed.
        var reported = ""
        let counted = try await eventually(seconds: 20) {
            let listing = try await fleet.ctl(["get", "agents", "-o", "json"])
            let row = try #require(try JSONSerialization.jsonObject(with: Data(listing.split(separator: "\n")[0].utf8)) as? [String: Any])
            reported = "\((row["stats"] as? [String: Any])?["packets"] ?? "none")"
            return reported == "\(generated.packets)"
        }
        #expect(counted, "packets reported \(reported), captured \(generated.packets)")
        #expect(agent.stop() == 0, "\(agent.log)")
        let log = agent.log
        #expect(log.contains("2 workers (software distributor)"), "\(log)")
        #expect(log.split(separator: "\n").filter { $0.hasPrefix("packets ") }.count == 2, "\(log)")
        #expect(fleet.controller.stop() == 0, "\(fleet.controller.log)")
    }

    @Test("Two RSS queue workers on their own lcores under the controller: both take the pushed chain before reading, then forward",
          .enabled(if: FileManager.default.fileExists(atPath: "/usr/include/dpdk/rte_eal.h"), "DPDK is not installed"))
    func queueWorkersUnderController() async throws {
        let fleet = try await Fleet(agents: ["fw-1"])
        defer { fleet.controller.stop() }
        let scratch = fleet.scratch
        var profile = TrafficProfile()
        profile.seed = 62
        profile.flows = 40
        _ = try generate(profile, to: scratch.file("frames.pcap"))
        try firewallChain(name: "edge-firewall", droppingPort: 23, placement: "role: fw")
            .write(toFile: scratch.file("firewall.yaml"), atomically: true, encoding: .utf8)
        // net_null offers RSS: one queue pair per worker, worker 1 on lcore 1; its packets
        // carry the capture's frames.
        let eal = "--no-huge -m 512 --no-pci --no-shconf --no-telemetry --lcores=0@(0-1),1@(0-1) "
            + "--vdev=net_null0,size=1514 --vdev=net_null1,size=1514"
        let agent = try await fleet.agent("fw-1", source: ["--dpdk", eal, "--port", "net_null0", "--out-port", "net_null1",
                                                           "--workers", "2", "--null-frames", scratch.file("frames.pcap")],
                                          labels: "role=fw")
        defer { agent.stop() }
        // Nothing is read before both workers run the chain: once the agent's statistics
        // reach the controller, they count no packet.
        var idle = ""
        let reported = try await eventually(seconds: 10) {
            idle = try await fleet.ctl(["get", "agents", "-o", "json"])
            return idle.contains("\"stats\"")
        }
        #expect(reported && idle.contains("\"packets\":0"), "no packets before a chain: \(idle)")
        _ = try await fleet.ctl(["apply", "-f", scratch.file("firewall.yaml")])
        var row: [String: Any] = [:]
        let running = try await eventually(seconds: 30) {
            let listing = try await fleet.ctl(["get", "agents", "-o", "json"])
            row = try #require(try JSONSerialization.jsonObject(with: Data(listing.split(separator: "\n")[0].utf8)) as? [String: Any])
            let packets = (row["stats"] as? [String: Any])?["packets"] as? Int ?? 0
            return row["applied_version"] as? Int == row["desired_version"] as? Int && packets > 1000
        }
        #expect(running, "applied by both workers and forwarding: \(row); \(agent.log)")
        #expect(agent.stop() == 0, "\(agent.log)")
        let log = agent.log
        #expect(log.contains("2 workers (one RSS queue pair each)"), "\(log)")
        #expect(log.contains("workers      on EAL lcores: main, 1"), "\(log)")
        let perWorker = log.split(separator: "\n").filter { $0.hasPrefix("packets ") }
        #expect(perWorker.count == 2 && perWorker.allSatisfy { !$0.contains("ipv4 0,") }, "each worker forwarded IPv4: \(log)")
        #expect(fleet.controller.stop() == 0, "\(fleet.controller.log)")
    }
}

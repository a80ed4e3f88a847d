import Foundation
import MBoxCapture
import MBoxTrafficGen
import Testing

/// Whether the agent was built with DPDK (the same test Package.swift makes).
let dpdkInstalled = FileManager.default.fileExists(atPath: "/usr/include/dpdk/rte_eal.h")

/// EAL arguments for virtual devices on a machine without hugepages or NICs.
func ealArguments(_ vdevs: String...) -> String {
    (["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--lcores=0@(0-1)"]
        + vdevs.map { "--vdev=\($0)" }).joined(separator: " ")
}

/// Through real DPDK (each run is its own process, so each gets its own EAL; the suite
/// runs one at a time). Skipped, saying why, when DPDK is not installed.
@Suite("DPDK ports", .serialized, .timeLimit(.minutes(1)), .enabled(if: dpdkInstalled, "DPDK is not installed (scripts/setup.sh installs libdpdk-dev)"))
struct DPDKReplayTests {
    /// `scratch`'s in.pcap replayed with the web rules through the pcap backend and through
    /// net_pcap (one worker): alerts in file.json and dpdk.json (streams in .jsonl with
    /// `streams`). Both runs must succeed.
    private func replayBothWays(_ scratch: ScratchDirectory, streams: Bool = false) throws -> (file: ProgramRun, port: ProgramRun) {
        func outputs(_ name: String) -> [String] {
            ["--rules", packageRoot + "/rules/web-attacks.rules", "--eve", scratch.file("\(name).json")]
                + (streams ? ["--streams", scratch.file("\(name).jsonl")] : [])
        }
        let fromFile = try run([try agentCommand(), "replay", "--pcap", scratch.file("in.pcap")] + outputs("file"))
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        let fromPort = try run([try agentCommand(), "replay", "--dpdk", ealArguments("net_pcap0,rx_pcap=\(scratch.file("in.pcap"))")]
                               + outputs("dpdk"))
        #expect(fromPort.status == 0, "\(fromPort.stderr)")
        return (fromFile, fromPort)
    }

    /// A --streams file's flows by their endpoints.
    private func streams(_ path: String) throws -> [String: FlowStreams] {
        Dictionary(uniqueKeysWithValues: try parseJSONLines(path).map(flowStreams).map { ("\($0.client) \($0.server)", $0) })
    }

    @Test("a capture replayed through net_pcap gives the same streams and alerts as the pcap backend")
    func sameAsPcapBackend() throws {
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile(seed: 77, flows: 200, attack: "UNION SELECT", attackShare: 0.3)
        profile.outOfOrder = 0.2
        profile.retransmissions = 0.1
        profile.attackSegments = 3
        let summary = try generate(profile, to: scratch.file("in.pcap"))
        let fromPort = try replayBothWays(scratch, streams: true).port
        #expect(fromPort.stderr.contains("port         net_pcap0: rx \(summary.packets)"))
        let fileAlerts = try alertSet(scratch.file("file.json"))
        #expect(fileAlerts.count > 50)
        #expect(try alertSet(scratch.file("dpdk.json")) == fileAlerts)
        let fileStreams = try streams(scratch.file("file.jsonl"))
        #expect(fileStreams.count == summary.tcpFlows)
        #expect(try streams(scratch.file("dpdk.jsonl")) == fileStreams)
    }

    @Test("parallel NFs run on a free EAL lcore (a thread when none is free), with the alerts of a sequential run")
    func parallelNFsOnLcores() throws {
        let scratch = try ScratchDirectory()
        let profile = TrafficProfile(seed: 31, flows: 120, attack: "UNION SELECT", attackShare: 0.3)
        _ = try generate(profile, to: scratch.file("in.pcap"))
        let chain = packageRoot + "/chains/seed/idsmon-default.yaml"
        let rules = packageRoot + "/rules/web-attacks.rules"
        let sequential = try run([try agentCommand(), "replay", "--pcap", scratch.file("in.pcap"), "--chain", chain, "--rules", rules,
                                  "--eve", scratch.file("sequential.json")])
        #expect(sequential.status == 0, "\(sequential.stderr)")
        let expected = try alertSet(scratch.file("sequential.json"))
        #expect(expected.count > 20)

        let eal = ealArguments("net_pcap0,rx_pcap=\(scratch.file("in.pcap"))")
        func parallel(_ eal: String, eve: String) -> [String] {
            ["replay", "--dpdk", eal, "--chain", chain, "--rules", rules, "--mode", "parallel", "--eve", eve]
        }
        let twoLcores = eal.replacingOccurrences(of: "--lcores=0@(0-1)", with: "--lcores=0@(0-1),1@(0-1)")
        let onLcore = try run([try agentCommand()] + parallel(twoLcores, eve: scratch.file("lcore.json")))
        #expect(onLcore.status == 0, "\(onLcore.stderr)")
        #expect(onLcore.stderr.contains("helper       mbox-nf-offload on EAL lcore 1"), "\(onLcore.stderr)")
        #expect(try alertSet(scratch.file("lcore.json")) == expected)

        let onThread = try run([try agentCommand()] + parallel(eal, eve: scratch.file("thread.json")))
        #expect(onThread.status == 0, "\(onThread.stderr)")
        #expect(onThread.stderr.contains("helper       mbox-nf-offload on a thread (no free EAL lcore"), "\(onThread.stderr)")
        #expect(try alertSet(scratch.file("thread.json")) == expected)
    }

    @Test("hostile traffic through net_pcap: every malformed packet counted by reason as on the pcap backend, the same alerts, no crash")
    func malformedThroughDPDK() throws {
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile(seed: 91, flows: 150, attack: "UNION SELECT", attackShare: 0.3)
        profile.malformed = 0.25
        profile.vlanIDs = [7]
        let summary = try generate(profile, to: scratch.file("in.pcap"))
        let made = summary.malformed.values.reduce(0, +)
        #expect(made > 50)
        let (fromFile, fromPort) = try replayBothWays(scratch)
        func malformedLine(_ text: String) -> String? { text.split(separator: "\n").first { $0.hasPrefix("malformed ") }.map(String.init) }
        let line = try #require(malformedLine(fromPort.stderr), "\(fromPort.stderr)")
        #expect(line.hasPrefix("malformed    \(made)"), "\(line); made \(made)")
        for (reason, count) in summary.malformed { #expect(line.contains("\(reason)=\(count)"), "\(reason): \(line)") }
        #expect(malformedLine(fromFile.stderr) == line)
        let expected = try alertSet(scratch.file("file.json"))
        #expect(expected.count > 10)
        #expect(try alertSet(scratch.file("dpdk.json")) == expected)
    }

    @Test("frames larger than an mbuf (jumbo or coalesced captures) are seen whole through net_pcap: the pcap backend's streams and alerts")
    func multiSegmentFrames() throws {
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile(seed: 17, flows: 60, attack: "UNION SELECT", attackShare: 0.4)
        profile.maximumSegmentSize = 15_000
        profile.requestBodySize = 12_000
        profile.responseBodySize = 30_000
        _ = try generate(profile, to: scratch.file("in.pcap"))
        let fromPort = try replayBothWays(scratch, streams: true).port
        let copied = fromPort.stderr.components(separatedBy: "multi-segment ").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) }
        #expect((copied ?? 0) > 50, "\(fromPort.stderr)")
        #expect(fromPort.stderr.contains("malformed    0"), "\(fromPort.stderr)")
        let expected = try alertSet(scratch.file("file.json"))
        #expect(expected.count > 10)
        #expect(try alertSet(scratch.file("dpdk.json")) == expected)
        #expect(try streams(scratch.file("dpdk.jsonl")) == streams(scratch.file("file.jsonl")))
        // Two workers behind the software distributor see them whole too.
        let eal = ealArguments("net_pcap0,rx_pcap=\(scratch.file("in.pcap"))")
            .replacingOccurrences(of: "--lcores=0@(0-1)", with: "--lcores=0@(0-1),1@(0-1),2@(0-1)")
        let workers = try run([try agentCommand(), "replay", "--dpdk", eal, "--workers", "2",
                               "--rules", packageRoot + "/rules/web-attacks.rules", "--eve", scratch.file("workers.json")])
        #expect(workers.status == 0, "\(workers.stderr)")
        #expect(try alertSet(scratch.file("workers.json")) == expected)
    }

    @Test("two workers: each flow stays on one worker, and the alerts equal the pcap backend's")
    func twoWorkers() throws {
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile(seed: 79, flows: 300, attack: "UNION SELECT", attackShare: 0.3)
        profile.outOfOrder = 0.2
        profile.attackSegments = 3
        profile.ipv6Share = 0.3
        let summary = try generate(profile, to: scratch.file("in.pcap"))
        let rules = packageRoot + "/rules/web-attacks.rules"
        let fromFile = try run([try agentCommand(), "replay", "--pcap", scratch.file("in.pcap"), "--rules", rules,
                                "--eve", scratch.file("file.json")])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        let workers = try run([try agentCommand(), "replay", "--dpdk", ealArguments("net_pcap0,rx_pcap=\(scratch.file("in.pcap"))"),
                               "--workers", "2", "--rules", rules, "--eve", scratch.file("workers.json")])
        #expect(workers.status == 0, "\(workers.stderr)")
        // Flows created per worker add up to the flows in the capture: no flow was split.
        let created = workers.stderr.split(separator: "\n").filter { $0.hasPrefix("flows ") }
            .compactMap { Int($0.split(separator: " ", omittingEmptySubsequences: true)[1]) }
        #expect(created.count == 2 && created.allSatisfy { $0 > 0 }, "\(workers.stderr)")
        #expect(created.reduce(0, +) == summary.tcpFlows + summary.udpFlows)
        let fileAlerts = try alertSet(scratch.file("file.json"))
        #expect(fileAlerts.count > 50)
        #expect(try alertSet(scratch.file("workers.json")) == fileAlerts)
    }

    @Test("ports with RSS (net_null offers it): each of two workers gets its own queue pair and forwards what it receives")
    func rssQueueWorkers() throws {
        let arguments = [try agentCommand(), "run", "--dpdk", ealArguments("net_null0", "net_null1"), "--port", "net_null0",
                         "--out-port", "net_null1", "--chain", packageRoot + "/chains/l2l3-forward.yaml",
                         "--workers", "2", "--duration", "1"]
        let queues = try run(arguments)
        #expect(queues.status == 0, "\(queues.stderr)")
        #expect(queues.stderr.contains("2 workers (one RSS queue pair each)"), "\(queues.stderr)")
        #expect(queues.stderr.contains("workers      on threads"), "\(queues.stderr)")
        // Per worker: its lane of each port, rx and tx; everything received is forwarded.
        let lanes = queues.stderr.split(separator: "\n").filter { $0.hasPrefix("port ") }.map { line in
            let numbers = line.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .punctuationCharacters)) }
            return (rx: numbers[0], tx: numbers[1])
        }
        #expect(lanes.count == 4, "\(queues.stderr)")
        #expect(lanes.allSatisfy { $0.rx > 1000 && $0.rx == $0.tx }, "\(lanes)")
        let perWorker = queues.stderr.split(separator: "\n").filter { $0.hasPrefix("packets ") }
        #expect(perWorker.count == 2)

        // With a second EAL lcore, worker 1 runs there (worker 0 on the main lcore).
        let eal = ealArguments("net_null0", "net_null1").replacingOccurrences(of: "--lcores=0@(0-1)", with: "--lcores=0@(0-1),1@(0-1)")
        let onLcores = try run([try agentCommand(), "run", "--dpdk", eal] + arguments.dropFirst(4))
        #expect(onLcores.status == 0, "\(onLcores.stderr)")
        #expect(onLcores.stderr.contains("workers      on EAL lcores: main, 1"), "\(onLcores.stderr)")
        #expect(onLcores.stderr.split(separator: "\n").filter { $0.hasPrefix("packets ") }.count == 2)

        let software = try run(arguments + ["--no-rss"])
        #expect(software.status == 0, "\(software.stderr)")
        #expect(software.stderr.contains("2 workers (software distributor)"), "\(software.stderr)")
    }

    @Test("net_null ports preloaded with --null-frames carry those frames (benchmarks), and only net_null ports take them")
    func nullFrames() throws {
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.seed = 12
        profile.flows = 20
        _ = try generate(profile, to: scratch.file("frames.pcap"))
        func summaryNumber(_ text: String, _ label: String) -> Int? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(label) }) else { return nil }
            return line.dropFirst(label.count).split(separator: " ").first.flatMap { Int($0) }
        }
        let base = [try agentCommand(), "run", "--dpdk", ealArguments("net_null0,size=1514"), "--chain",
                    packageRoot + "/chains/l2l3-forward.yaml", "--duration", "0.5"]
        // Without frames, net_null's packets are zeros: not IP.
        let zeros = try run(base)
        #expect(zeros.status == 0, "\(zeros.stderr)")
        let zeroPackets = try #require(summaryNumber(zeros.stderr, "packets "))
        #expect(zeroPackets > 1000 && summaryNumber(zeros.stderr, "not ip ") == zeroPackets, "\(zeros.stderr)")
        // With them: IPv4 flows of the capture, nothing malformed.
        let framed = try run(base + ["--null-frames", scratch.file("frames.pcap")])
        #expect(framed.status == 0, "\(framed.stderr)")
        #expect(summaryNumber(framed.stderr, "not ip ") == 0, "\(framed.stderr)")
        #expect(summaryNumber(framed.stderr, "malformed ") == 0, "\(framed.stderr)")
        let flows = try #require(summaryNumber(framed.stderr, "flows "))
        #expect((1...profile.flows).contains(flows), "\(framed.stderr)")

        let notNull = try run([try agentCommand(), "run", "--dpdk", ealArguments("net_pcap0,rx_pcap=\(scratch.file("frames.pcap"))"),
                               "--null-frames", scratch.file("frames.pcap"), "--duration", "0.2"])
        #expect(notNull.status == 1)
        #expect(notNull.stderr.contains("--null-frames applies to net_null ports only"), "\(notNull.stderr)")
    }

    @Test("inline through net_pcap: exactly the forwarded packets leave, the dropped ones do not")
    func inlineForwardsByVerdict() throws {
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.seed = 78
        profile.flows = 90
        let summary = try generate(profile, to: scratch.file("in.pcap"))
        try writeFirewallChain(to: scratch.file("chain.yaml"), name: "drop-ssh", stack: "tcp_monitor", droppingPort: 22)
        let result = try run([try agentCommand(), "replay", "--chain", scratch.file("chain.yaml"),
                              "--dpdk", ealArguments("net_pcap0,rx_pcap=\(scratch.file("in.pcap"))",
                                                     "net_pcap1,tx_pcap=\(scratch.file("out.pcap"))"),
                              "--port", "net_pcap0", "--out-port", "net_pcap1"])
        #expect(result.status == 0, "\(result.stderr)")
        // What left: read back, every packet checked.
        let input = try CaptureFileReader(path: scratch.file("in.pcap"))
        var expected: [[UInt8]] = []
        while let packet = try input.next() {
            let bytes = Array(packet.data)
            let ports = (UInt16(bytes[34]) << 8 | UInt16(bytes[35]), UInt16(bytes[36]) << 8 | UInt16(bytes[37]))
            if !(bytes[23] == 6 && (ports.0 == 22 || ports.1 == 22)) { expected.append(bytes) }
        }
        let output = try CaptureFileReader(path: scratch.file("out.pcap"))
        var forwarded: [[UInt8]] = []
        while let packet = try output.next() { forwarded.append(Array(packet.data)) }
        #expect(expected.count < summary.packets && !expected.isEmpty)
        #expect(forwarded == expected, "forwarded \(forwarded.count) packets, expected \(expected.count)")
        #expect(result.stderr.contains("dropped by verdict \(summary.packets - expected.count)"))
    }

    @Test("mbox-agent run stops cleanly on SIGTERM and reports its ports")
    func runStopsOnSignal() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try agentCommand())
        process.arguments = ["run", "--dpdk", ealArguments("net_null0", "net_null1"), "--port", "net_null0",
                             "--out-port", "net_null1", "--chain", packageRoot + "/chains/l2l3-forward.yaml"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // Wait until it runs (it says so), then ask it to stop.
        var said = Data()
        while !String(decoding: said, as: UTF8.self).contains("SIGINT or SIGTERM stops") {
            let chunk = errors.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            said += chunk
        }
        usleep(300_000)
        process.terminate()
        said += errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: said, as: UTF8.self)
        #expect(process.terminationReason == .exit && process.terminationStatus == 0, "\(text)")
        #expect(text.contains("port         net_null0: rx "), "\(text)")
        #expect(text.contains("verdicts"), "the summary was printed")
    }

    @Test("real traffic inline on net_af_packet: curl through the agent arrives intact, the attack is dropped",
          .enabled(if: getuid() == 0, "network namespaces need root"))
    func realTrafficInline() throws {
        let result = try run(["timeout", "120", "bash", packageRoot + "/scripts/netns-inline.sh", try agentCommand()])
        let output = String(decoding: result.stdout, as: UTF8.self)
        #expect(result.status == 0, "\(output)\n\(result.stderr)")
        #expect(output.contains("normal request: answered intact"))
        #expect(output.contains("attack request: dropped (no answer)"))
        #expect(output.contains("normal request again: answered intact"))
        #expect(output.contains("alert: sid 2000001 in EVE"))
        #expect(output.contains("rejected request: connection reset"))
        #expect(output.contains("alert: sid 2000002 in EVE"))
    }

    @Test("one chain, three stacks: 1,000 curl downloads balanced by the splicer over three nginx backends, byte-identical; a backend killed; a direct request on the monitor; UDP on L2/L3",
          .enabled(if: getuid() == 0 && installed("nginx") && installed("curl") && installed("openssl"), "network namespaces need root; nginx, curl and openssl"))
    func splicerBalancesRealTraffic() throws {
        let result = try run(["timeout", "300", "bash", packageRoot + "/scripts/netns-splicer.sh", "1000", try agentCommand()])
        let output = String(decoding: result.stdout, as: UTF8.self)
        #expect(result.status == 0, "\(output)\n\(result.stderr)")
        #expect(output.contains("object.bin: 1000 of 1000 responses byte-identical (sha256)"))
        #expect(output.contains("static/small.bin: 6 of 6 byte-identical"))
        #expect(output.contains("tls a.example: routed by SNI to 10.199.0.11, certificate verified, byte-identical"))
        #expect(output.contains("tls b.example: routed by SNI to 10.199.0.12, certificate verified, byte-identical"))
        #expect(output.contains("direct request: answered (TCP Monitor)"))
        #expect(output.contains("HTTP requests parsed once: 1037 of 1037 sent"), "one parse per request for the balancer, DPI and the IDS")
        #expect(output.contains("alert: sid 3000001"), "the IDS on the same chain's TCP Monitor flows")
        #expect(output.contains("after backend 10.199.0.12 died: 30 of 30 byte-identical"))
        #expect(output.contains("backend 10.199.0.12: 333 object requests, 0 static requests"), "round robin; none after it died")
    }

    @Test("the split proxy: 100 MB through links with 1 % loss, delay and reordering arrive byte-identical; the HTTP rewriter's headers reach the server and the client, keep-alive framing (length and chunked) stays valid; the cache answers hits itself (TCP Endpoint)",
          .enabled(if: getuid() == 0 && installed("nginx") && installed("curl") && installed("python3"), "network namespaces need root; nginx, curl and python3"))
    func splitProxyRewritesRealTraffic() throws {
        let result = try run(["timeout", "400", "bash", packageRoot + "/scripts/netns-split-proxy.sh", "100", try agentCommand()])
        let output = String(decoding: result.stdout, as: UTF8.self)
        #expect(result.status == 0, "\(output)\n\(result.stderr)")
        #expect(output.contains("large.bin: 100 MB byte-identical (sha256)"))
        #expect(output.contains("request: the backend saw X-Forwarded-For 10.199.0.1 and no X-Internal-Token"))
        #expect(output.contains("response: Server stripped, Via added"))
        #expect(output.contains("redirect: Location rewritten to https://www.example.org/dir/"))
        #expect(output.contains("keep-alive: 4 of 4 responses intact on one connection (2 chunked), each rewritten"))
        #expect(output.contains("cache: 3 of 3 responses byte-identical, 2 answered by the agent (X-Cache: HIT), the origins saw only the first"))
        // The links really were impaired, and the proxy's own TCP repaired it.
        #expect(output.contains("impairment") && !output.contains("dropped=0 "), "\(output)")
        // Every connection ended by a FIN or was still kept alive at the end; none was reset.
        #expect(output.contains("4 connections (") && output.contains(" 0 reset, ") && output.contains(" 0 refused"), "\(output)")
    }

    @Test("a clear error when EAL cannot start or the port does not exist")
    func clearErrors() throws {
        let noPort = try run([try agentCommand(), "replay", "--dpdk", ealArguments(), "--port", "net_pcap7"])
        #expect(noPort.status == 1)
        #expect(noPort.stderr.contains("DPDK found no port") || noPort.stderr.contains("no DPDK port named"), "\(noPort.stderr)")
        let badEAL = try run([try agentCommand(), "replay", "--dpdk", "--no-pci --definitely-not-an-eal-option"])
        #expect(badEAL.status == 1)
        #expect(badEAL.stderr.contains("EAL did not start"), "\(badEAL.stderr)")
    }
}

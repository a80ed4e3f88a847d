import Foundation
import MBoxChain
import MBoxDataPath
import MBoxNFs
import MBoxPacket
import MBoxTrafficGen
import Testing

/// The agent's IDS chain raises the same (signature, flow) alerts as Suricata 7 on the
/// same capture and rules — attack strings split across segments, out of order,
/// retransmitted.
@Suite("Alerts against Suricata")
struct SuricataOracleTests {
    static func profile(_ index: Int) -> TrafficProfile {
        var profile = TrafficProfile(seed: 100 + UInt64(index), flows: 300, attack: "UNION SELECT", attackShare: 0.4)
        profile.concurrency = 48
        profile.attackSegments = [2, 4, 12][index]
        profile.outOfOrder = [0.0, 0.3, 0.4][index]
        profile.retransmissions = [0.0, 0.2, 0.3][index]
        profile.overlappingRetransmissions = [0.0, 0.1, 0.2][index]
        profile.tinySegments = index == 2
        profile.ipv6Share = index == 1 ? 0.5 : 0
        return profile
    }

    /// (sid, endpoint, endpoint) with the endpoints sorted, so orientation does not matter.
    static func key(_ sid: Int, _ a: String, _ ap: Int, _ b: String, _ bp: Int) -> String {
        // Suricata writes IPv6 in full; compare canonical forms.
        func canonical(_ text: String) -> String { IPAddress(text)?.description ?? text }
        let ends = ["\(canonical(a))|\(ap)", "\(canonical(b))|\(bp)"].sorted()
        return "\(sid) \(ends[0]) \(ends[1])"
    }

    @Test("the same (signature, flow) alerts as suricata -r", arguments: 0..<3)
    func sameAlerts(index: Int) throws {
        try #require(installed("suricata"), "Suricata is the oracle (scripts/setup.sh installs it)")
        let directory = NSTemporaryDirectory() + "mbox-suricata-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory + "/out", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let capture = try MemoryCapture(Self.profile(index))
        try capture.write(to: directory + "/attack.pcap")
        #expect(capture.summary.attackFlows.count > 20)

        let definition = try ChainParser().parse(file: packageRoot + "/chains/ids.yaml")
        let chain = try ChainCompiler().compile(definition, resources: BuildResources(rulesOverride: webRules))
        let pipeline = try chain.makePipeline(configuration: DataPathConfiguration())
        var ours = Set<String>()
        var last: UInt64 = 0
        func collect() {
            for alert in pipeline.chain.alerts {
                let matcher = pipeline.chain.members[Int(alert.publisher)].function as! SignatureMatch
                let sid = Int(matcher.engine.rules[Int(alert.detail.index)].sid)
                let flow = pipeline.chain.flowKey(of: alert)
                ours.insert(Self.key(sid, "\(flow.client)", Int(flow.clientPort), "\(flow.server)", Int(flow.serverPort)))
            }
        }
        for packet in capture.packets {
            _ = pipeline.process(packet)
            collect()
            last = packet.timestamp
        }
        pipeline.finish(timestamp: last)
        collect()

        let suricata = Process()
        suricata.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        suricata.arguments = ["suricata", "-r", directory + "/attack.pcap", "-S", webRules, "-l", directory + "/out",
                              "-k", "none", "--runmode", "single"]
        suricata.standardOutput = FileHandle.nullDevice
        suricata.standardError = FileHandle.nullDevice
        try suricata.run()
        suricata.waitUntilExit()
        try #require(suricata.terminationStatus == 0)
        var theirs = Set<String>()
        for line in try String(contentsOfFile: directory + "/out/eve.json", encoding: .utf8).split(separator: "\n") {
            let event = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            guard event["event_type"] as? String == "alert", let alert = event["alert"] as? [String: Any] else { continue }
            theirs.insert(Self.key(alert["signature_id"] as! Int, event["src_ip"] as! String, event["src_port"] as! Int,
                                   event["dest_ip"] as! String, event["dest_port"] as! Int))
        }
        #expect(theirs.count > 50)
        #expect(ours.subtracting(theirs).isEmpty, "only the agent: \(ours.subtracting(theirs).sorted().prefix(10))")
        #expect(theirs.subtracting(ours).isEmpty, "only Suricata: \(theirs.subtracting(ours).sorted().prefix(10))")
        // Every flow carrying the split attack string alerted on sid 1000001.
        #expect(ours.filter { $0.hasPrefix("1000001 ") }.count == capture.summary.attackFlows.count)
    }
}

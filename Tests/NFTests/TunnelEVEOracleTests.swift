import Foundation
import MBoxCapture
import MBoxDataPath
import MBoxNFs
import MBoxTrafficGen
import Testing

/// Alerts on traffic inside VXLAN and GRE carry the tunnel as Suricata 7's EVE does: the
/// outer endpoints, protocol and depth in a `tunnel` object, for the same alerts.
@Suite("EVE tunnel objects against Suricata")
struct TunnelEVEOracleTests {
    @Test("the same alerts with the same tunnel objects", arguments: [Encapsulation.vxlan(vni: 42), .gre])
    func tunnelObjects(encapsulation: Encapsulation) throws {
        try #require(installed("suricata"), "Suricata is the oracle (scripts/setup.sh installs it)")
        let scratch = try Scratch("tunnel-eve")
        var profile = TrafficProfile()
        profile.seed = 77
        profile.flows = 30
        profile.attack = "UNION SELECT"
        profile.attackShare = 0.5
        profile.ipv6Share = 0
        let plain = try MemoryCapture(profile)
        let capture = try MemoryCapture(frames: plain.packets.map { encapsulation.wrap(Array($0.data)) })
        try capture.write(to: scratch.path + "/tunnelled.pcap")
        _ = try suricataAlerts(capture: scratch.path + "/tunnelled.pcap", rules: webRules, directory: scratch.path)
        let theirs = try Self.alerts(scratch.path + "/suricata/eve.json")

        let pipeline = try compileChain(String(contentsOfFile: packageRoot + "/chains/ids.yaml", encoding: .utf8), rules: webRules)
            .makePipeline(configuration: DataPathConfiguration())
        let eve = try EVEWriter(path: scratch.path + "/ours.json").channel()
        func write() {
            pipeline.chain.forEachAlert { alert, rule, key, transaction in
                eve.write(alert: alert, rule: rule, key: key, transaction: transaction, tunnel: pipeline.dataPath.tunnel(ofFlow: alert.flowID))
            }
        }
        for packet in capture.packets {
            _ = pipeline.process(packet)
            write()
        }
        pipeline.finish(timestamp: capture.packets.last!.timestamp)
        write()
        try eve.flush()
        let ours = try Self.alerts(scratch.path + "/ours.json")
        // Suricata may alert more than once per flow, and its alerts raised when a flow
        // ends (on a pseudo packet) carry no tunnel: compared per alert and flow.
        #expect(theirs.count > 5, "Suricata alerted inside the tunnel")
        #expect(Set(ours.keys) == Set(theirs.keys))
        for (alert, tunnels) in ours {
            #expect(tunnels.count == 1 && !tunnels.contains(Self.none), "\(alert): \(tunnels)")
            #expect(theirs[alert, default: []].subtracting([Self.none]).isSubset(of: tunnels), "\(alert): ours \(tunnels), Suricata's \(theirs[alert] ?? [])")
        }
    }

    static let none = "- > - - -"

    /// Tunnel objects ("src > dst proto depth") by alert ("sid src > dst").
    static func alerts(_ path: String) throws -> [String: Set<String>] {
        var alerts: [String: Set<String>] = [:]
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            guard record["event_type"] as? String == "alert", let alert = record["alert"] as? [String: Any] else { continue }
            let tunnel = record["tunnel"] as? [String: Any] ?? [:]
            let key = "\(alert["signature_id"]!) \(record["src_ip"]!):\(record["src_port"]!) > \(record["dest_ip"]!):\(record["dest_port"]!)"
            alerts[key, default: []].insert("\(tunnel["src_ip"] ?? "-") > \(tunnel["dest_ip"] ?? "-") \(tunnel["proto"] ?? "-") \(tunnel["depth"] ?? "-")")
        }
        return alerts
    }
}

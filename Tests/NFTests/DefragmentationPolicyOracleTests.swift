import Foundation
import MBoxDataPath
import MBoxNFs
import MBoxPacket
import MBoxTrafficGen
import Testing

/// Overlapping IP fragments put together per target policy, against Suricata with the same
/// `host-os-policy`. The layout is Sturges and Novak's (as in Suricata's own defrag tests):
/// nine fragments, then eight that overlap them in every way — starting before, at and
/// after, ending before, at and after — each with its own letter, so each policy yields a
/// different datagram. One rule per possible datagram; the agent must raise the one
/// Suricata raises, for IPv4 and IPv6.
@Suite("IP defragmentation policies against Suricata")
struct DefragmentationPolicyOracleTests {
    /// (letter, offset, length): the originals, then the overlapping ones; the last ends the datagram.
    static let layout: [(Character, Int, Int)] = [
        ("A", 0, 24), ("B", 32, 16), ("C", 48, 24), ("D", 80, 8), ("E", 104, 16), ("F", 120, 24), ("G", 144, 16),
        ("H", 160, 16), ("I", 176, 8),
        ("J", 8, 32), ("K", 48, 24), ("L", 72, 24), ("M", 96, 24), ("N", 128, 8), ("O", 152, 8), ("P", 160, 8), ("Q", 176, 16),
    ]

    /// Every datagram the policies can make of the layout (8-byte units after the UDP header).
    static let outcomes = [
        "AAJJBCCCLLLMMMFFFGGHHIQ", "AAJJBKKKLLLMMMFFFGGPHQQ", "AAJBBCCCLLLMEEFFFGGHHIQ",
        "AAJBBCCCLLLMMMFFFGGHHIQ", "AAJBBCCCLDLMEEFFFGGHHIQ", "JJJJBKKKLLLMMMFNFGOPHQQ",
    ]

    static func frames(ipv6: Bool) -> [[UInt8]] {
        let client = Endpoint(address: ipv6 ? [0x20, 1, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1] : [10, 0, 0, 1],
                              port: 40_000, mac: [2, 0, 0, 0, 0, 1])
        let server = Endpoint(address: ipv6 ? [0x20, 1, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [2] : [10, 0, 0, 2],
                              port: 5_000, mac: [2, 0, 0, 0, 0, 2])
        // The UDP header is the first 8 bytes of the datagram; A covers them in every policy.
        let whole = FrameBuilder().udp(from: client, to: server, payload: Array(repeating: 0x41, count: 184))
        let udpHeader = Array(whole[(14 + (ipv6 ? 40 : 20))...].prefix(8))
        return layout.enumerated().map { index, piece in
            var bytes = Array(repeating: UInt8(piece.0.asciiValue!), count: piece.2)
            if piece.1 == 0 { bytes.replaceSubrange(0..<8, with: udpHeader) }
            return IPFragments.piece(of: whole, offset: piece.1, bytes: bytes, more: index < layout.count - 1, identification: 7)
        }
    }

    static var rules: String {
        outcomes.enumerated().map { index, units in
            let content = units.map { String(repeating: $0, count: 8) }.joined()
            return "alert udp any any -> any any (msg:\"datagram \(index)\"; content:\"\(content)\"; sid:\(index + 1);)"
        }.joined(separator: "\n") + "\n"
    }

    @Test("the datagram each policy makes is the one Suricata makes", arguments: TargetPolicy.allCases, [false, true])
    func samePolicyOutcome(policy: TargetPolicy, ipv6: Bool) throws {
        try #require(installed("suricata"), "Suricata is the oracle (scripts/setup.sh installs it)")
        let scratch = try Scratch("defrag-policy")
        let capture = try MemoryCapture(frames: Self.frames(ipv6: ipv6))
        try capture.write(to: scratch.path + "/fragments.pcap")
        try Self.rules.write(toFile: scratch.path + "/outcomes.rules", atomically: true, encoding: .utf8)

        // Suricata's shipped suricata.yaml names Windows for 0.0.0.0/0; that entry is
        // replaced, and this policy given for the family's whole space (one family per run:
        // with `::/0` listed too, Suricata 7.0 looks IPv4 hosts up as BSD). Its
        // host-os-policy has no `first` or `last`; those are checked against Sturges and
        // Novak's table, which Suricata's defrag unit tests use.
        let everyone = ipv6 ? "::/0" : "0.0.0.0/0"
        let suricataName: [TargetPolicy: String] = [.bsd: "bsd", .linux: "linux", .windows: "windows", .solaris: "solaris"]
        var theirs = AlertKeys()
        if let name = suricataName[policy] {
            let arguments = ["--set", "host-os-policy.windows.0=192.0.2.255",
                             "--set", "host-os-policy.\(name).\(policy == .windows ? 1 : 0)=\(everyone)"]
            theirs = try suricataAlerts(capture: scratch.path + "/fragments.pcap", rules: scratch.path + "/outcomes.rules",
                                        directory: scratch.path, arguments: arguments)
        } else {
            theirs.perSID = [policy == .first ? 5 : 6: 1]
        }
        var configuration = DataPathConfiguration()
        var policies = HostPolicies(default: .bsd)
        try policies.add(specification: "\(policy)=0.0.0.0/0,::/0")
        configuration.defragmentation.policies = policies
        let ours = try agentAlerts(capture: capture, rules: scratch.path + "/outcomes.rules", configuration: configuration)

        #expect(theirs.perSID.count == 1, "Suricata raised \(theirs.perSID) for \(policy)")
        #expect(ours.perSID == theirs.perSID, "\(policy) IPv\(ipv6 ? 6 : 4): ours \(ours.perSID), Suricata's \(theirs.perSID)")
    }

    @Test("out of the box, the same datagrams as Suricata with its shipped suricata.yaml", arguments: [false, true])
    func shippedDefaults(ipv6: Bool) throws {
        try #require(installed("suricata"), "Suricata is the oracle (scripts/setup.sh installs it)")
        let scratch = try Scratch("defrag-default")
        let capture = try MemoryCapture(frames: Self.frames(ipv6: ipv6))
        try capture.write(to: scratch.path + "/fragments.pcap")
        try Self.rules.write(toFile: scratch.path + "/outcomes.rules", atomically: true, encoding: .utf8)
        let theirs = try suricataAlerts(capture: scratch.path + "/fragments.pcap", rules: scratch.path + "/outcomes.rules",
                                        directory: scratch.path)
        let ours = try agentAlerts(capture: capture, rules: scratch.path + "/outcomes.rules")
        #expect(theirs.perSID.count == 1 && ours.perSID == theirs.perSID, "ours \(ours.perSID), Suricata's \(theirs.perSID)")
    }

    @Test("EVE anomaly records for the overlapping fragments equal Suricata's", arguments: [false, true])
    func anomalyRecords(ipv6: Bool) throws {
        try #require(installed("suricata"), "Suricata is the oracle (scripts/setup.sh installs it)")
        let scratch = try Scratch("defrag-anomaly")
        let capture = try MemoryCapture(frames: Self.frames(ipv6: ipv6))
        try capture.write(to: scratch.path + "/fragments.pcap")
        try Self.rules.write(toFile: scratch.path + "/outcomes.rules", atomically: true, encoding: .utf8)
        // The anomaly logger is the third EVE type in the shipped suricata.yaml.
        _ = try suricataAlerts(capture: scratch.path + "/fragments.pcap", rules: scratch.path + "/outcomes.rules", directory: scratch.path,
                               arguments: ["--set", "outputs.1.eve-log.types.2.anomaly.types.decode=yes"])
        func records(_ path: String) throws -> [String] {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap { line in
                let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
                guard record["event_type"] as? String == "anomaly", let anomaly = record["anomaly"] as? [String: Any] else { return nil }
                let source = IPAddress(record["src_ip"] as? String ?? "")?.description ?? "-"
                let destination = IPAddress(record["dest_ip"] as? String ?? "")?.description ?? "-"
                return "\(anomaly["type"]!) \(anomaly["event"]!) \(source):\(record["src_port"] ?? "-") > \(destination):\(record["dest_port"] ?? "-") "
                    + "\(record["proto"] ?? "-")"
            }.sorted()
        }
        let theirs = try records(scratch.path + "/suricata/eve.json")
        let writer = try EVEWriter(path: scratch.path + "/ours.json", anomalies: true).channel()
        let dataPath = DataPath()
        for packet in capture.packets {
            _ = dataPath.process(packet)
            if dataPath.lastPacketHasAnomalies { writer.writeAnomalies(of: dataPath, timestamp: packet.timestamp) }
        }
        try writer.flush()
        let ours = try records(scratch.path + "/ours.json")
        #expect(theirs.count >= 7 && ours == theirs, "ours \(ours), Suricata's \(theirs)")
    }

    @Test("the overlaps are counted and the policy is chosen by destination prefix")
    func perHostPolicy() throws {
        let capture = try MemoryCapture(frames: Self.frames(ipv6: false))
        for (specifications, expected) in [(["linux=10.0.0.2/32"], 1), (["linux=10.0.0.0/8", "solaris=10.0.0.2"], 3),
                                           (["first=10.0.0.3,192.0.2.0/24"], 0)] {
            var configuration = DataPathConfiguration()
            var policies = HostPolicies(default: .bsd)
            for specification in specifications { try policies.add(specification: specification) }
            configuration.defragmentation.policies = policies
            let dataPath = DataPath(configuration: configuration)
            var payload: [UInt8] = []
            for packet in capture.packets where dataPath.process(packet) != .fragment {
                let headers = dataPath.headers.pointee
                payload = Array(dataPath.reassembledPacket!.data[headers.payloadOffset...])
            }
            let units = String(stride(from: 0, to: payload.count, by: 8).map { Character(UnicodeScalar(payload[$0])) })
            #expect(units == Self.outcomes[expected], "\(specifications): \(units)")
            #expect(dataPath.defragmentation.overlaps == 8 && dataPath.defragmentation.reassembled == 1)
            #expect(dataPath.defragmentation.heldBytes == 0)
        }
    }

    @Test("policy specifications that cannot be read are refused with the reason")
    func badSpecifications() {
        var policies = HostPolicies(default: .bsd)
        for bad in ["linux", "plan9=10.0.0.0/8", "linux=10.0.0.0/33", "linux=banana", "=10.0.0.1"] {
            #expect(throws: HostPolicyError.self, "\(bad)") { try policies.add(specification: bad) }
        }
        #expect(policies.entries.isEmpty)
    }
}

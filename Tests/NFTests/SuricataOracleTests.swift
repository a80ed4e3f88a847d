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

    @Test("the same (signature, flow) alerts as suricata -r", arguments: 0..<3)
    func sameAlerts(index: Int) throws {
        try #require(installed("suricata"), "Suricata is the oracle (scripts/setup.sh installs it)")
        let scratch = try Scratch("suricata")
        let directory = scratch.path
        defer { withExtendedLifetime(scratch) {} }
        let capture = try MemoryCapture(Self.profile(index))
        try capture.write(to: directory + "/attack.pcap")
        #expect(capture.summary.attackFlows.count > 20)

        let ours = try agentAlerts(capture: capture, rules: webRules).flows
        let theirs = try suricataAlerts(capture: directory + "/attack.pcap", rules: webRules, directory: directory).flows
        #expect(theirs.count > 50)
        #expect(ours.subtracting(theirs).isEmpty, "only the agent: \(ours.subtracting(theirs).sorted().prefix(10))")
        #expect(theirs.subtracting(ours).isEmpty, "only Suricata: \(theirs.subtracting(ours).sorted().prefix(10))")
        // Every flow carrying the split attack string alerted on sid 1000001.
        #expect(ours.filter { $0.hasPrefix("1000001 ") }.count == capture.summary.attackFlows.count)
    }

    @Test("attack strings inside IP fragments (8-byte pieces, shuffled; IPv4 and IPv6): the same alerts as suricata -r")
    func fragmentedAttacks() throws {
        try #require(installed("suricata"), "Suricata is the oracle (scripts/setup.sh installs it)")
        let scratch = try Scratch("fragments")
        let directory = scratch.path
        defer { withExtendedLifetime(scratch) {} }
        let capture = try MemoryCapture(fragmenting: MemoryCapture(Self.profile(1)), size: 8, order: 2)
        try capture.write(to: directory + "/fragments.pcap")
        let ours = try agentAlerts(capture: capture, rules: webRules).flows
        let theirs = try suricataAlerts(capture: directory + "/fragments.pcap", rules: webRules, directory: directory).flows
        #expect(theirs.count > 50)
        #expect(ours == theirs, "only the agent: \(Array(ours.subtracting(theirs)).prefix(6)); only Suricata: \(Array(theirs.subtracting(ours)).prefix(6))")
        #expect(ours.filter { $0.hasPrefix("1000001 ") }.count == capture.summary.attackFlows.count)
    }
}

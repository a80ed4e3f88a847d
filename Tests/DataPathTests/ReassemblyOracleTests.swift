import Foundation
import MBoxTrafficGen
import Testing

/// The agent's reassembled streams equal tshark's, byte for byte, on generated captures
/// full of the things that make reassembly hard.
@Suite("Reassembly against tshark")
struct ReassemblyOracleTests {
    static let profiles: [(String, TrafficProfile)] = {
        var many = TrafficProfile()
        many.seed = 11
        many.flows = 300
        many.concurrency = 64
        many.outOfOrder = 0.2
        many.retransmissions = 0.1
        many.overlappingRetransmissions = 0.1
        many.ipv6Share = 0.3

        var tiny = TrafficProfile()
        tiny.seed = 12
        tiny.flows = 60
        tiny.tinySegments = true
        tiny.outOfOrder = 0.3
        tiny.retransmissions = 0.2
        tiny.overlappingRetransmissions = 0.2
        tiny.sequenceWrap = true

        var wrapped = TrafficProfile()
        wrapped.seed = 13
        wrapped.flows = 120
        wrapped.sequenceWrap = true
        wrapped.outOfOrder = 0.25
        wrapped.responseBodySize = 9000
        wrapped.ipv6Share = 0.5
        wrapped.vlanIDs = [100]

        var qinq = TrafficProfile()
        qinq.seed = 14
        qinq.flows = 80
        qinq.vlanIDs = [10, 20]
        qinq.retransmissions = 0.3
        qinq.attack = "UNION SELECT"
        qinq.attackShare = 0.5
        qinq.attackSegments = 4
        qinq.outOfOrder = 0.3
        return [("many interleaved flows, OOO, retransmissions, overlaps, IPv6", many),
                ("tiny segments with wrap-around", tiny),
                ("wrap-around, large responses, IPv6, VLAN", wrapped),
                ("QinQ, split attack strings, retransmissions", qinq)]
    }()

    @Test("streams equal tshark's", arguments: 0..<4)
    func streamsEqualTshark(profileIndex: Int) throws {
        let (name, profile) = Self.profiles[profileIndex]
        try #require(installed("tshark"), "tshark is needed as the oracle (apt-get install tshark)")
        let scratch = try ScratchDirectory()
        let pcap = scratch.file("oracle.pcap")
        let summary = try generate(profile, to: pcap)

        let ours = try replayStreams(pcap, scratch: scratch).lines.map(flowStreams)
        let theirs = try TsharkOracle.streams(of: pcap)

        #expect(ours.count == summary.tcpFlows, "\(name): one line per TCP flow")
        #expect(theirs.count == summary.tcpFlows, "\(name): tshark sees every TCP flow")
        let expected = Dictionary(uniqueKeysWithValues: theirs.map { ("\($0.client) \($0.server)", $0) })
        var compared = 0
        for flow in ours {
            guard let oracle = expected["\(flow.client) \(flow.server)"] else {
                Issue.record("\(name): tshark has no stream \(flow)")
                continue
            }
            #expect(firstDifference(flow.toServer, oracle.toServer) == nil, "\(name): client→server stream of \(flow)")
            #expect(firstDifference(flow.toClient, oracle.toClient) == nil, "\(name): server→client stream of \(flow)")
            compared += 1
        }
        #expect(compared == summary.tcpFlows)
        #expect(ours.contains { !$0.toServer.isEmpty && !$0.toClient.isEmpty })
    }
}

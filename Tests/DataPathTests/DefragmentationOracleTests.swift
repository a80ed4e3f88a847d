import Foundation
import MBoxCapture
import MBoxTrafficGen
import Testing

/// Every IPv4 and IPv6 packet of generated traffic cut into small fragments — in order,
/// reversed, shuffled — is put back together: the streams equal tshark's (which
/// defragments too) and those of the unfragmented capture.
@Suite("IP defragmentation against tshark")
struct DefragmentationOracleTests {
    @Test("streams equal tshark's, fragments in order, reversed and shuffled", arguments: [(8, 0), (16, 1), (24, 2)])
    func streams(size: Int, order: Int) throws {
        try #require(installed("tshark"), "tshark is needed as the oracle (apt-get install tshark)")
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.seed = 70 + UInt64(size)
        profile.flows = 40
        profile.applications = [.http, .tls, .ssh]
        profile.ipv6Share = 0.4
        let summary = try generate(profile, to: scratch.file("whole.pcap"))
        let reader = try CaptureFileReader(path: scratch.file("whole.pcap"))
        let writer = try PcapWriter(.file(path: scratch.file("fragmented.pcap")))
        var packets: [(timestamp: UInt64, frame: [UInt8])] = []
        while let packet = try reader.next() { packets.append((packet.timestamp, Array(packet.data))) }
        for (timestamp, frame) in IPFragments.fragment(packets, size: size, order: order) {
            try writer.write(timestamp: timestamp, bytes: frame)
        }
        try writer.close()

        let (lines, dataPath) = try replayStreams(scratch.file("fragmented.pcap"), scratch: scratch)
        let ours = lines.map(flowStreams)
        let whole = try replayStreams(scratch.file("whole.pcap"), scratch: scratch).lines.map(flowStreams)
        let theirs = try TsharkOracle.streams(of: scratch.file("fragmented.pcap"))
        #expect(dataPath.defragmentation.reassembled > 40, "\(dataPath.defragmentation)")
        #expect(dataPath.defragmentation.invalid == 0 && dataPath.defragmentation.overlaps == 0)
        #expect(ours.count == summary.tcpFlows && theirs.count == summary.tcpFlows)
        let expected = Dictionary(uniqueKeysWithValues: theirs.map { ("\($0.client) \($0.server)", $0) })
        let unfragmented = Dictionary(uniqueKeysWithValues: whole.map { ("\($0.client) \($0.server)", $0) })
        for flow in ours {
            let key = "\(flow.client) \(flow.server)"
            #expect(flow.toServer == expected[key]?.toServer && flow.toClient == expected[key]?.toClient, "tshark: \(flow)")
            #expect(flow.toServer == unfragmented[key]?.toServer && flow.toClient == unfragmented[key]?.toClient, "whole: \(flow)")
        }
    }
}

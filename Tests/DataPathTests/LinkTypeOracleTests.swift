import Foundation
import MBoxCapture
import MBoxTrafficGen
import Testing

/// Captures as other links frame them — BSD loopback (`NULL` in either byte order, `LOOP`),
/// raw IP under its other numbers, PPP, PPP in HDLC framing, Cisco HDLC, and Ethernet
/// carrying PPPoE or an MPLS label stack: the streams equal tshark's, byte for byte.
@Suite("Link types and encapsulations against tshark")
struct LinkTypeOracleTests {
    /// How each case reframes an Ethernet frame's IP packet (`version` 4 or 6).
    static let framings: [(String, LinkType, @Sendable (_ ip: [UInt8], _ version: UInt8, _ ethernet: [UInt8]) -> [UInt8])] = [
        ("NULL, little-endian family", .null, { ip, version, _ in (version == 4 ? [2, 0, 0, 0] : [30, 0, 0, 0]) + ip }),
        ("NULL, big-endian family", .null, { ip, version, _ in (version == 4 ? [0, 0, 0, 2] : [0, 0, 0, 24]) + ip }),
        ("LOOP", .loop, { ip, version, _ in (version == 4 ? [0, 0, 0, 2] : [0, 0, 0, 28]) + ip }),
        ("raw IP (12)", .rawOpenBSD, { ip, _, _ in ip }),
        ("PPP", .ppp, { ip, version, _ in [0xFF, 0x03] + (version == 4 ? [0x00, 0x21] : [0x00, 0x57]) + ip }),
        ("PPP in HDLC framing", .pppHDLC, { ip, version, _ in [0xFF, 0x03] + (version == 4 ? [0x00, 0x21] : [0x00, 0x57]) + ip }),
        ("Cisco HDLC", .ciscoHDLC, { ip, version, _ in [0x0F, 0x00] + (version == 4 ? [0x08, 0x00] : [0x86, 0xDD]) + ip }),
        ("Ethernet, PPPoE session", .ethernet, { ip, version, ethernet in
            let length = UInt16(ip.count + 2)
            return Array(ethernet[0..<12]) + [0x88, 0x64, 0x11, 0x00, 0x12, 0x34, UInt8(length >> 8), UInt8(length & 0xFF)]
                + (version == 4 ? [0x00, 0x21] : [0x00, 0x57]) + ip
        }),
        ("Ethernet, two MPLS labels", .ethernet, { ip, _, ethernet in
            Array(ethernet[0..<12]) + [0x88, 0x47, 0x00, 0x01, 0x40, 0x40, 0x00, 0x02, 0x51, 0x40] + ip
        }),
    ]

    @Test("streams equal tshark's", arguments: 0..<9)
    func streams(index: Int) throws {
        try #require(installed("tshark"), "tshark is needed as the oracle (apt-get install tshark)")
        let (name, linkType, frame) = Self.framings[index]
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.seed = 40 + UInt64(index)
        profile.flows = 60
        profile.applications = [.http, .tls, .ssh]
        profile.outOfOrder = 0.2
        profile.ipv6Share = 0.4
        let summary = try generate(profile, to: scratch.file("ethernet.pcap"))
        // Reframe every packet: its IP packet (after the 14-byte Ethernet header) in the new link.
        let reader = try CaptureFileReader(path: scratch.file("ethernet.pcap"))
        let writer = try PcapWriter(.file(path: scratch.file("framed.pcap")), linkType: linkType)
        while let packet = try reader.next() {
            let ethernet = Array(packet.data)
            let ip = Array(ethernet[14...])
            try writer.write(timestamp: packet.timestamp, bytes: frame(ip, ip[0] >> 4, ethernet))
        }
        try writer.close()

        let (lines, dataPath) = try replayStreams(scratch.file("framed.pcap"), scratch: scratch)
        let ours = lines.map(flowStreams)
        let theirs = try TsharkOracle.streams(of: scratch.file("framed.pcap"))
        #expect(dataPath.counters.notIP == 0 && dataPath.counters.malformed.total == 0, "\(name): every packet decoded")
        #expect(ours.count == summary.tcpFlows && theirs.count == summary.tcpFlows, "\(name)")
        let expected = Dictionary(uniqueKeysWithValues: theirs.map { ("\($0.client) \($0.server)", $0) })
        for flow in ours {
            guard let oracle = expected["\(flow.client) \(flow.server)"] else {
                Issue.record("\(name): tshark has no stream \(flow)")
                continue
            }
            #expect(flow.toServer == oracle.toServer && flow.toClient == oracle.toClient, "\(name): \(flow)")
        }
    }
}

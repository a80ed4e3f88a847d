import Foundation
import MBoxDataPath
import MBoxTrafficGen
import Testing

/// Packets whose TCP or UDP header is damaged behind a sound IP header stay visible: they
/// reach IP-level rules — and rules on their protocol with any port — without a transport
/// layer, as in Suricata, which keeps such a packet without its TCP/UDP header. Counted as
/// malformed by reason all the same.
@Suite("Damaged packets against Suricata")
struct DamagedPacketOracleTests {
    static let rules = """
        alert ip any any -> any any (msg:"any IP packet"; sid:1;)
        alert tcp any any -> any any (msg:"any TCP packet"; sid:2;)
        alert tcp any any -> any 80 (msg:"TCP to port 80"; sid:3;)
        alert tcp any any -> any any (msg:"TCP payload"; content:"GET"; sid:4;)
        alert udp any any -> any any (msg:"any UDP packet"; sid:5;)
        alert ip any any -> any any (msg:"TTL 33"; ttl:33; sid:6;)

        """

    @Test("the same alerts as Suricata for damaged TCP and UDP headers; each counted by reason")
    func sameAlerts() throws {
        try #require(installed("suricata"), "Suricata is the oracle (scripts/setup.sh installs it)")
        let client = Endpoint(address: [10, 3, 0, 1], port: 40_000, mac: [2, 0, 0, 0, 0, 1])
        let server = Endpoint(address: [10, 3, 0, 2], port: 80, mac: [2, 0, 0, 0, 0, 2])
        let b = FrameBuilder()
        let good = b.tcp(from: client, to: server, .init(flags: 0x18, sequence: 1, acknowledgment: 1, payload: Array("GET / HTTP/1.0\r\n\r\n".utf8)))
        func ttl33(_ frame: [UInt8]) -> [UInt8] {
            var frame = frame
            frame[14 + 8] = 33
            frame[14 + 10] = 0; frame[14 + 11] = 0
            let checksum = FrameBuilder.onesComplement(Array(frame[14..<34]))
            frame[14 + 10] = UInt8(checksum >> 8); frame[14 + 11] = UInt8(checksum & 0xFF)
            return frame
        }
        var badOffset = ttl33(good)
        badOffset[14 + 20 + 12] = 0x40  // a data offset of 4 words: less than the header
        var pastEnd = good
        pastEnd[14 + 20 + 12] = 0xF0  // 60 bytes of header in a shorter segment
        var cut = ttl33(good)
        cut[14 + 2] = 0; cut[14 + 3] = 30  // the IP datagram ends 10 bytes into the TCP header
        var udp = b.udp(from: Endpoint(address: [10, 3, 0, 1], port: 5353, mac: client.mac),
                        to: Endpoint(address: [10, 3, 0, 2], port: 53, mac: server.mac), payload: Array(repeating: 7, count: 20))
        udp[14 + 20 + 4] = 0; udp[14 + 20 + 5] = 4  // a UDP length shorter than its header
        let capture = try MemoryCapture(frames: [good, badOffset, pastEnd, cut, udp])
        let scratch = try Scratch("damaged")
        try capture.write(to: scratch.path + "/damaged.pcap")
        try Self.rules.write(toFile: scratch.path + "/damaged.rules", atomically: true, encoding: .utf8)
        let theirs = try suricataAlerts(capture: scratch.path + "/damaged.pcap", rules: scratch.path + "/damaged.rules", directory: scratch.path)
        let ours = try agentAlerts(capture: capture, rules: scratch.path + "/damaged.rules")
        #expect(theirs.perSID[1, default: 0] == 5, "Suricata sees every packet at the IP level: \(theirs.perSID)")
        #expect(ours.perSID == theirs.perSID, "ours \(ours.perSID), Suricata's \(theirs.perSID)")
        #expect(ours.directed == theirs.directed)

        let dataPath = DataPath()
        for packet in capture.packets { _ = dataPath.process(packet) }
        #expect(dataPath.counters.malformed.nonZero.map(\.0).sorted()
                    == ["bad_tcp_data_offset", "bad_udp_length", "truncated_tcp_header"], "\(dataPath.counters.malformed.nonZero)")
        #expect(dataPath.counters.malformed.total == 4)
    }
}

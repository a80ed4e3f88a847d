import Foundation
import MBoxCapture
import MBoxPacket
import MBoxTrafficGen
import MBoxTransmit
import Testing

/// What `reject` sends, as Suricata's reject builds it (RFC 793 §3.4 for the RST), read
/// back by tshark with IP, TCP and ICMP checksums checked.
@Suite("Reject answers") struct TransmitTests {
    let client = Endpoint(address: [192, 0, 2, 1], port: 51_000, mac: [0x02, 0, 0, 0, 0, 1])
    let server = Endpoint(address: [198, 51, 100, 7], port: 80, mac: [0x02, 0, 0, 0, 0, 2])
    let client6 = Endpoint(address: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [1], port: 51_000,
                           mac: [0x02, 0, 0, 0, 0, 1])
    let server6 = Endpoint(address: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [7], port: 53,
                           mac: [0x02, 0, 0, 0, 0, 2])

    func answer(_ frame: [UInt8]) -> [UInt8]? {
        let outbox = FrameOutbox(capacity: 4)
        var headers = PacketHeaders()
        return frame.withUnsafeBytes { bytes in
            _ = PacketParser.parse(bytes, linkType: .ethernet, into: &headers)
            let packet = CapturedPacket(timestamp: 0, data: bytes, originalLength: UInt32(bytes.count), linkType: .ethernet)
            guard RejectResponder.reject(packet, headers: headers, into: outbox) else { return nil }
            #expect(outbox.frame(0).egress == .back)
            return Array(outbox.frame(0).bytes)
        }
    }

    func tshark(_ frames: [[UInt8]], fields: [String]) throws -> [[String]] {
        let path = NSTemporaryDirectory() + "reject-\(UUID().uuidString).pcap"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try PcapWriter(.file(path: path))
        for frame in frames { try writer.write(timestamp: 0, bytes: frame) }
        try writer.close()
        let result = try run(["tshark", "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                              "-o", "udp.check_checksum:TRUE", "-T", "fields", "-E", "separator=|"] + fields.flatMap { ["-e", $0] })
        #expect(result.status == 0, "\(result.stderr)")
        return String(decoding: result.stdout, as: UTF8.self).split(separator: "\n")
            .map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
    }

    @Test("a TCP packet gets a RST+ACK back: sequence from its ACK (or 0), ACK past its data; UDP an ICMP unreachable",
          .enabled(if: installed("tshark")))
    func rejectAnswers() throws {
        let builder = FrameBuilder()
        let data = Array("GET /cmd.exe HTTP/1.1\r\n\r\n".utf8)
        let withAck = builder.tcp(from: client, to: server, .init(flags: 0x18, sequence: 1000, acknowledgment: 5000, payload: data))
        let syn = builder.tcp(from: client, to: server, .init(flags: 0x02, sequence: 700, acknowledgment: 0))
        let udp = builder.udp(from: client6, to: server6, payload: Array("query".utf8))
        let udp4 = builder.udp(from: client, to: server, payload: Array("query".utf8))
        let reset = builder.tcp(from: client, to: server, .init(flags: 0x14, sequence: 1, acknowledgment: 1))
        #expect(answer(reset) == nil, "a RST is never answered")
        let answers = try [withAck, syn, udp4, udp].map { try #require(answer($0)) }
        let rows = try tshark(answers, fields: ["ip.src", "ip.dst", "ipv6.src", "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw",
                                                "tcp.flags", "ip.checksum.status", "tcp.checksum.status", "icmp.type", "icmp.code",
                                                "icmp.checksum.status", "icmpv6.type", "icmpv6.code", "icmpv6.checksum.status"])
        try #require(rows.count == 4)
        // 0: RST to the sender of data with an ACK.
        #expect(rows[0][0...7] == ["198.51.100.7", "192.0.2.1", "", "80", "51000", "5000", "\(1000 + data.count)", "0x0014"])
        #expect(rows[0][8] == "1" && rows[0][9] == "1", "checksums: \(rows[0])")
        // 1: a SYN (no ACK): sequence 0, ACK its sequence + 1.
        #expect(rows[1][5...7] == ["0", "701", "0x0014"])
        // 2: IPv4 UDP: ICMP destination unreachable, administratively prohibited (3/10).
        // (tshark also reads the quoted header: its addresses follow the answer's.)
        #expect(rows[2][0].hasPrefix("198.51.100.7,") && rows[2][10] == "3" && rows[2][11] == "10" && rows[2][12] == "1", "\(rows[2])")
        // 3: IPv6 UDP: ICMPv6 destination unreachable, administratively prohibited (1/1).
        #expect(rows[3][13] == "1" && rows[3][14] == "1" && rows[3][15] == "1", "\(rows[3])")
    }

    @Test("emitted frames keep the VLAN tags of the packet they answer; a full outbox counts, never grows")
    func framingAndBounds() throws {
        let tagged = FrameBuilder(vlanIDs: [100]).tcp(from: client, to: server, .init(flags: 0x10, sequence: 1, acknowledgment: 2))
        let reply = try #require(answer(tagged))
        #expect(reply[12] == 0x81 && reply[13] == 0x00 && (UInt16(reply[14]) << 8 | UInt16(reply[15])) & 0x0FFF == 100)
        #expect(Array(reply[0..<6]) == client.mac && Array(reply[6..<12]) == server.mac, "addressed back to the sender")
        let outbox = FrameOutbox(capacity: 2)
        for _ in 0..<5 { outbox.emit(.onward) { frame in frame[0] = 1; return 60 } }
        #expect(outbox.count == 2 && outbox.counters.emitted == 2 && outbox.counters.overflowed == 3)
    }
}

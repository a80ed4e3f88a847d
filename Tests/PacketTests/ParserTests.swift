import MBoxCapture
import MBoxPacket
import MBoxTrafficGen
import Testing

private let client = Endpoint(address: [10, 0, 0, 1], port: 40_000, mac: [2, 0, 0, 0, 0, 1])
private let server = Endpoint(address: [192, 0, 2, 80], port: 80, mac: [2, 0, 0, 0, 0, 2])
private let client6 = Endpoint(address: [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], port: 40_001, mac: client.mac)
private let server6 = Endpoint(address: [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80], port: 443, mac: server.mac)

private func parse(_ frame: [UInt8], linkType: LinkType = .ethernet) -> (ParseStatus, PacketHeaders) {
    var headers = PacketHeaders()
    let status = frame.withUnsafeBytes { PacketParser.parse($0, linkType: linkType, into: &headers) }
    return (status, headers)
}

@Suite("Packet parser")
struct ParserTests {
    @Test("IPv4 TCP SYN: addresses, ports, sequence numbers, flags and options")
    func tcpSyn() {
        let segment = FrameBuilder.TCPSegment(flags: 0x02, sequence: 0xFFFF_FFF0, acknowledgment: 0,
                                              options: FrameBuilder.synOptions(timestamp: 77))
        let (status, h) = parse(FrameBuilder().tcp(from: client, to: server, segment))
        #expect(status == .ok)
        #expect(h.ipVersion == 4 && h.isTCP)
        #expect(h.source == IPAddress(10, 0, 0, 1) && h.destination == IPAddress(192, 0, 2, 80))
        #expect(h.source.description == "10.0.0.1")
        #expect(h.sourcePort == 40_000 && h.destinationPort == 80)
        #expect(h.sequence == 0xFFFF_FFF0 && h.tcpFlags == .syn)
        #expect(h.tcpOptions.mss == 1460 && h.tcpOptions.sackPermitted)
        #expect(h.tcpOptions.hasWindowScale && h.tcpOptions.windowScale == 7)
        #expect(h.tcpOptions.hasTimestamps && h.tcpOptions.timestampValue == 77)
        #expect(h.payloadLength == 0 && h.payloadOffset == 14 + 20 + 40)
    }

    @Test("payload located in place; Ethernet padding is not payload")
    func payloadAndPadding() {
        let segment = FrameBuilder.TCPSegment(flags: 0x18, sequence: 1, acknowledgment: 2, payload: Array("hi".utf8))
        var frame = FrameBuilder().tcp(from: client, to: server, segment)
        frame += [0, 0, 0, 0, 0, 0]  // padded to the 60-byte minimum
        let (status, h) = parse(frame)
        #expect(status == .ok)
        #expect(h.payloadLength == 2)
        #expect(Array(frame[h.payloadOffset..<(h.payloadOffset + 2)]) == Array("hi".utf8))
        #expect(h.tcpFlags == [.psh, .ack] && h.acknowledgment == 2)
    }

    @Test("802.1Q and QinQ tags are walked and recorded")
    func vlan() {
        let single = parse(FrameBuilder(vlanIDs: [100]).udp(from: client, to: server, payload: [1]))
        #expect(single.0 == .ok && single.1.vlanCount == 1 && single.1.vlanIDs.0 == 100 && single.1.isUDP)
        let qinq = parse(FrameBuilder(vlanIDs: [10, 20]).udp(from: client6, to: server6, payload: [1, 2]))
        #expect(qinq.0 == .ok && qinq.1.vlanCount == 2 && qinq.1.vlanIDs == (10, 20))
        #expect(qinq.1.ipVersion == 6 && qinq.1.payloadLength == 2)
    }

    @Test("IPv6 with hop-by-hop and destination-options headers before TCP")
    func ipv6Extensions() {
        let segment = FrameBuilder.TCPSegment(flags: 0x10, sequence: 5, acknowledgment: 6, payload: [9, 9, 9])
        var frame = FrameBuilder().tcp(from: client6, to: server6, segment)
        // Insert hop-by-hop (next: dest opts) and dest-opts (next: TCP) after the IPv6 header.
        let extensions: [UInt8] = [60, 0, 1, 4, 0, 0, 0, 0] + [6, 0, 1, 4, 0, 0, 0, 0]
        frame.insert(contentsOf: extensions, at: 14 + 40)
        frame[14 + 6] = 0
        let length = Int(frame[14 + 4]) << 8 | Int(frame[14 + 5]) + extensions.count
        frame[14 + 4] = UInt8(length >> 8)
        frame[14 + 5] = UInt8(length & 0xFF)
        let (status, h) = parse(frame)
        #expect(status == .ok)
        #expect(h.ipProtocol == IPProtocolNumber.tcp && h.sequence == 5 && h.payloadLength == 3)
        #expect(h.destination.description == "2001:db8::80")
        #expect(!h.source.isIPv4)
    }

    @Test("IPv4 and IPv6 fragments are recognised")
    func fragments() {
        var v4 = FrameBuilder().udp(from: client, to: server, payload: [1, 2, 3, 4])
        v4[14 + 6] = 0x20  // more fragments
        #expect(parse(v4).0 == .fragment)
        var v6 = FrameBuilder().udp(from: client6, to: server6, payload: [1, 2, 3, 4, 5, 6, 7, 8])
        // Turn the UDP header into a fragment header (offset 8, next header UDP).
        v6[14 + 6] = 44
        let fragmentHeader: [UInt8] = [17, 0, 0, 8 << 3, 0, 0, 0, 1]
        v6.replaceSubrange((14 + 40)..<(14 + 48), with: fragmentHeader)
        #expect(parse(v6).0 == .fragment)
    }

    @Test("raw IP and Linux cooked link types")
    func otherLinkTypes() {
        let frame = FrameBuilder().udp(from: client, to: server, payload: [1, 2, 3])
        let ip = Array(frame.dropFirst(14))
        #expect(parse(ip, linkType: .raw).0 == .ok)
        #expect(parse(ip, linkType: .ipv4).1.payloadLength == 3)
        let sll: [UInt8] = [0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00] + ip
        let parsedSLL = parse(sll, linkType: .linuxSLL)
        #expect(parsedSLL.0 == .ok && parsedSLL.1.destinationPort == 80)
        let sll2: [UInt8] = [0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0] + ip
        #expect(parse(sll2, linkType: .linuxSLL2).0 == .ok)
        #expect(parse([UInt8](repeating: 0, count: 14) + [0x08, 0x06], linkType: .ethernet).0 == .notIP)
        #expect(parse(ip, linkType: LinkType(rawValue: 147)).0 == .notIP)
    }

    @Test("ICMP type and code")
    func icmp() {
        let echo = FrameBuilder().frame(from: client, to: server, protocolNumber: 1, transport: [8, 0, 0, 0, 0, 1, 0, 1])
        let (status, h) = parse(echo)
        #expect(status == .ok && h.icmpType == 8 && h.icmpCode == 0)
    }

    @Test("each damaged header is refused with its reason")
    func malformedReasons() {
        let good = FrameBuilder().tcp(from: client, to: server,
                                      FrameBuilder.TCPSegment(flags: 0x18, sequence: 1, acknowledgment: 1, payload: [1, 2, 3, 4]))
        func damaged(_ change: (inout [UInt8]) -> Void) -> ParseStatus {
            var frame = good
            change(&frame)
            return parse(frame).0
        }
        #expect(damaged { $0 = Array($0.prefix(13)) } == .malformed(.truncatedLinkHeader))
        #expect(damaged { $0 = Array($0.prefix(30)) } == .malformed(.truncatedIPv4Header))
        #expect(damaged { $0[14] = 0x44 } == .malformed(.badIPv4HeaderLength))
        #expect(damaged { $0[14] = 0x4F } == .malformed(.truncatedIPv4Header))
        #expect(damaged { $0[16] = 0xFF } == .malformed(.badIPv4TotalLength))
        #expect(damaged { $0[17] = 10 ; $0[16] = 0 } == .malformed(.badIPv4TotalLength))
        #expect(damaged { $0[14] = 0x75 } == .malformed(.badIPVersion))
        #expect(damaged { $0[14 + 20 + 12] = 0x40 } == .malformed(.badTCPDataOffset))
        #expect(damaged { $0[14 + 20 + 12] = 0xF0 } == .malformed(.badTCPDataOffset))
        #expect(damaged { $0[16] = 0; $0[17] = 30 } == .malformed(.truncatedTCPHeader))
        let vlanCut = Array(FrameBuilder(vlanIDs: [5]).udp(from: client, to: server, payload: []).prefix(16))
        #expect(parse(vlanCut).0 == .malformed(.truncatedVLANTag))
        var tooMany = Array(good.prefix(12))
        for _ in 0..<5 { tooMany += [0x81, 0x00, 0, 1] }
        tooMany += Array(good.dropFirst(12))
        #expect(parse(tooMany).0 == .malformed(.tooManyVLANTags))
        let badOption = FrameBuilder().tcp(from: client, to: server,
                                           FrameBuilder.TCPSegment(flags: 2, sequence: 1, acknowledgment: 0, options: [3, 3, 7, 8]))
        #expect(parse(badOption).0 == .malformed(.badTCPOption))
        let zeroLengthOption = FrameBuilder().tcp(from: client, to: server,
                                                  FrameBuilder.TCPSegment(flags: 2, sequence: 1, acknowledgment: 0, options: [30, 0, 1, 1]))
        #expect(parse(zeroLengthOption).0 == .malformed(.badTCPOption))
        var udp = FrameBuilder().udp(from: client, to: server, payload: [1, 2])
        udp[14 + 20 + 5] = 200
        #expect(parse(udp).0 == .malformed(.badUDPLength))
        var v6 = FrameBuilder().udp(from: client6, to: server6, payload: [1])
        v6[14 + 4] = 0x10
        #expect(parse(v6).0 == .malformed(.badIPv6PayloadLength))
        #expect(parse(Array(v6.prefix(40))).0 == .malformed(.truncatedIPv6Header))
        var loop = FrameBuilder().udp(from: client6, to: server6, payload: [UInt8](repeating: 0, count: 120))
        loop[14 + 6] = 60
        for k in 0..<13 { loop[14 + 40 + 8 * k] = 60; loop[14 + 40 + 8 * k + 1] = 0 }
        #expect(parse(loop).0 == .malformed(.tooManyIPv6ExtensionHeaders))
    }

    @Test("random bytes and every truncation never crash; accepted payloads stay in bounds")
    func hostileInput() {
        var rng = SplitMix64(seed: 99)
        let template = FrameBuilder(vlanIDs: [7]).tcp(
            from: client6, to: server6,
            FrameBuilder.TCPSegment(flags: 0x18, sequence: 1, acknowledgment: 1,
                                    options: FrameBuilder.synOptions(timestamp: 1), payload: [UInt8](repeating: 65, count: 100)))
        var accepted = 0, refused = 0
        func check(_ frame: [UInt8], _ linkType: LinkType) {
            let (status, h) = parse(frame, linkType: linkType)
            if status == .ok {
                accepted += 1
                #expect(h.payloadOffset >= 0 && h.payloadOffset + h.payloadLength <= frame.count)
            } else if case .malformed = status {
                refused += 1
            }
        }
        for length in 0...template.count { check(Array(template.prefix(length)), .ethernet) }
        for _ in 0..<20_000 {
            var frame = template
            for _ in 0..<(1 + rng.next() % 4) {
                frame[Int(rng.next() % UInt64(frame.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
            check(Array(frame.prefix(Int(rng.next() % UInt64(frame.count + 1)))), .ethernet)
            let noise = (0..<Int(rng.next() % 96)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            check(noise, [.ethernet, .raw, .linuxSLL, .linuxSLL2][Int(rng.next() % 4)])
        }
        #expect(accepted > 0 && refused > 0)
        #expect(parse(template).0 == .ok)
    }
}

@Suite("Parser: TTL")
struct ParserTTLTests {
    @Test("the TTL of an IPv4 and an IPv6 packet is read")
    func ttl() {
        let client = Endpoint(address: [10, 0, 0, 1], port: 1000, mac: [2, 0, 0, 0, 0, 1])
        let server = Endpoint(address: [10, 0, 0, 2], port: 80, mac: [2, 0, 0, 0, 0, 2])
        let frame = FrameBuilder().tcp(from: client, to: server, FrameBuilder.TCPSegment(flags: 0x02, sequence: 1, acknowledgment: 0))
        var headers = PacketHeaders()
        let status = frame.withUnsafeBytes { PacketParser.parse($0, linkType: .ethernet, into: &headers) }
        #expect(status == .ok)
        #expect(headers.ttl == 64 && headers.tunnelDepth == 0)
    }
}

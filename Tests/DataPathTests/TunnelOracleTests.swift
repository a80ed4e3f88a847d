import Foundation
import MBoxCapture
import MBoxDataPath
import MBoxTrafficGen
import Testing

/// Generated traffic carried inside tunnels — VXLAN, GENEVE, GRE (plain, with a key,
/// Ethernet inside, ERSPAN II), IPv4/IPv6 in IPv4, IPv6 in IPv6, Teredo — is decoded to the
/// inner flows: their streams equal tshark's.
@Suite("Tunnels against tshark")
struct TunnelOracleTests {
    static let outerV4Source: [UInt8] = [172, 31, 0, 1], outerV4Destination: [UInt8] = [172, 31, 0, 2]
    static let outerMACs: [UInt8] = [2, 0, 0, 0, 0, 0xAA, 2, 0, 0, 0, 0, 0xBB]

    static func ipv4(_ proto: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let total = UInt16(20 + payload.count)
        var header: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0x40, 0, 64, proto, 0, 0]
            + outerV4Source + outerV4Destination
        var sum: UInt32 = 0
        for index in stride(from: 0, to: 20, by: 2) { sum += UInt32(header[index]) << 8 | UInt32(header[index + 1]) }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        header[10] = UInt8((~sum >> 8) & 0xFF); header[11] = UInt8(~sum & 0xFF)
        return outerMACs + [0x08, 0x00] + header + payload
    }

    static func ipv6(_ next: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let length = UInt16(payload.count)
        let source: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0xff] + Array(repeating: 0, count: 10) + [1]
        let destination: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0xff] + Array(repeating: 0, count: 10) + [2]
        return outerMACs + [0x86, 0xDD, 0x60, 0, 0, 0, UInt8(length >> 8), UInt8(length & 0xFF), next, 64]
            + source + destination + payload
    }

    static func udp(_ port: UInt16, _ payload: [UInt8]) -> [UInt8] {
        let length = UInt16(8 + payload.count)
        return [0xC3, 0x50, UInt8(port >> 8), UInt8(port & 0xFF), UInt8(length >> 8), UInt8(length & 0xFF), 0, 0] + payload
    }

    /// (name, frame → encapsulated frame or nil to pass it unchanged)
    static let tunnels: [(String, @Sendable (_ frame: [UInt8]) -> [UInt8]?)] = [
        ("VXLAN", { frame in ipv4(17, udp(4789, [0x08, 0, 0, 0, 0, 0, 42, 0] + frame)) }),
        ("GENEVE", { frame in ipv4(17, udp(6081, [0x00, 0x00, 0x65, 0x58, 0, 0, 7, 0] + frame)) }),
        ("GRE", { frame in
            let ip = Array(frame[14...])
            return ipv4(47, [0, 0] + (ip[0] >> 4 == 4 ? [0x08, 0x00] : [0x86, 0xDD]) + ip)
        }),
        ("GRE with a key, Ethernet inside", { frame in ipv4(47, [0x20, 0, 0x65, 0x58, 0, 0, 0, 9] + frame) }),
        ("ERSPAN type II", { frame in ipv4(47, [0x10, 0, 0x88, 0xBE, 0, 0, 0, 1] + [0x10, 0, 0, 1, 0, 0, 0, 0] + frame) }),
        ("IP in IPv4", { frame in
            let ip = Array(frame[14...])
            return ipv4(ip[0] >> 4 == 4 ? 4 : 41, ip)
        }),
        ("IPv6 in IPv6", { frame in
            let ip = Array(frame[14...])
            return ip[0] >> 4 == 6 ? ipv6(41, ip) : nil
        }),
        ("Teredo", { frame in
            let ip = Array(frame[14...])
            return ip[0] >> 4 == 6 ? ipv4(17, udp(3544, ip)) : nil
        }),
    ]

    @Test("inner streams equal tshark's", arguments: 0..<8)
    func streams(index: Int) throws {
        try #require(installed("tshark"), "tshark is needed as the oracle (apt-get install tshark)")
        let (name, encapsulate) = Self.tunnels[index]
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.seed = 90 + UInt64(index)
        profile.flows = 40
        profile.applications = [.http, .tls, .ssh]
        profile.outOfOrder = 0.2
        profile.ipv6Share = name.contains("IPv6") || name == "Teredo" ? 1 : 0.4
        let summary = try generate(profile, to: scratch.file("plain.pcap"))
        let reader = try CaptureFileReader(path: scratch.file("plain.pcap"))
        let writer = try PcapWriter(.file(path: scratch.file("tunnelled.pcap")))
        while let packet = try reader.next() {
            let frame = Array(packet.data)
            try writer.write(timestamp: packet.timestamp, bytes: encapsulate(frame) ?? frame)
        }
        try writer.close()

        let (lines, dataPath) = try replayStreams(scratch.file("tunnelled.pcap"), scratch: scratch)
        let ours = lines.map(flowStreams)
        let theirs = try TsharkOracle.streams(of: scratch.file("tunnelled.pcap"))
        #expect(dataPath.counters.notIP == 0 && dataPath.counters.malformed.total == 0, "\(name): every packet decoded")
        #expect(dataPath.flows.counters.created == UInt64(summary.tcpFlows + summary.udpFlows), "\(name): inner flows only")
        #expect(ours.count == summary.tcpFlows && theirs.count == summary.tcpFlows, "\(name)")
        let expected = Dictionary(uniqueKeysWithValues: theirs.map { ("\($0.client) \($0.server)", $0) })
        for flow in ours {
            let oracle = expected["\(flow.client) \(flow.server)"]
            #expect(flow.toServer == oracle?.toServer && flow.toClient == oracle?.toClient, "\(name): \(flow)")
        }
    }
}

/// The tunnel is part of the flow: the same inner 5-tuple in two tunnels (other outer
/// endpoints, another VNI) is two flows; both directions of one tunnel are one flow, also
/// when the outer endpoints swap; `tunnelDepth` bounds how deep the parser goes.
@Suite("Flows keyed on their tunnel")
struct TunnelFlowKeyTests {
    static func vxlan(_ frame: [UInt8], vni: UInt8, swapOuter: Bool = false) -> [UInt8] {
        var outer = TunnelOracleTests.ipv4(17, TunnelOracleTests.udp(4789, [0x08, 0, 0, 0, 0, 0, vni, 0] + frame))
        if swapOuter { for index in 0..<4 { outer.swapAt(14 + 12 + index, 14 + 16 + index) } }
        return outer
    }

    @Test("one inner 5-tuple in two VXLAN networks is two flows; replies with the outer ends swapped stay in theirs")
    func twoTunnels() throws {
        var profile = TrafficProfile()
        profile.seed = 11
        profile.flows = 6
        profile.applications = [.http]
        let scratch = try ScratchDirectory()
        let summary = try generate(profile, to: scratch.file("plain.pcap"))
        let reader = try CaptureFileReader(path: scratch.file("plain.pcap"))
        var frames: [[UInt8]] = []
        while let packet = try reader.next() { frames.append(Array(packet.data)) }
        for depth: UInt8 in [4, 0] {
            var configuration = DataPathConfiguration()
            configuration.tunnelDepth = depth
            let dataPath = DataPath(configuration: configuration)
            var tunnels = Set<String>()
            for (index, frame) in frames.enumerated() {
                for vni: UInt8 in [42, 43] {
                    let tunnelled = Self.vxlan(frame, vni: vni, swapOuter: index % 2 == 1)
                    tunnelled.withUnsafeBytes {
                        let disposition = dataPath.process(CapturedPacket(timestamp: UInt64(index) * 1000, data: $0, originalLength: 0, linkType: .ethernet))
                        if case let .flow(slot, _) = disposition, let tunnel = dataPath.tunnel(ofFlow: dataPath.flows.flowID(slot)) {
                            tunnels.insert("\(tunnel.source) \(tunnel.destination) \(tunnel.ipProtocol) \(tunnel.depth)")
                        }
                    }
                }
            }
            if depth == 4 {
                #expect(dataPath.flows.counters.created == UInt64(2 * (summary.tcpFlows + summary.udpFlows)))
                #expect(dataPath.counters.tcp == UInt64(2 * frames.count), "every frame's inner packet decoded")
                #expect(tunnels == ["172.31.0.1 172.31.0.2 17 1", "172.31.0.2 172.31.0.1 17 1"])
            } else {
                // Not opened: the outer UDP packets, one flow per VXLAN source port and direction.
                #expect(dataPath.counters.tcp == 0 && dataPath.flows.counters.created >= 1 && tunnels.isEmpty)
            }
        }
    }
}

/// Hostile tunnels and fragments: tunnel headers and fragments with bytes flipped, cut short
/// or lying about lengths go through the data path counted (decoded, malformed or not IP),
/// never a crash; the defragmenter's table stays bounded.
@Suite("Hostile tunnels and fragments")
struct HostileTunnelTests {
    @Test("mutated encapsulations and fragments: every packet accounted for")
    func mutated() throws {
        var profile = TrafficProfile()
        profile.seed = 5
        profile.flows = 30
        profile.ipv6Share = 0.5
        let scratch = try ScratchDirectory()
        try generate(profile, to: scratch.file("plain.pcap"))
        let reader = try CaptureFileReader(path: scratch.file("plain.pcap"))
        var frames: [[UInt8]] = []
        while let packet = try reader.next() { frames.append(Array(packet.data)) }
        var seeds: [[UInt8]] = []
        for (index, frame) in frames.enumerated() {
            if let tunnelled = TunnelOracleTests.tunnels[index % TunnelOracleTests.tunnels.count].1(frame) { seeds.append(tunnelled) }
            seeds += IPFragments.cut(frame, size: 8, identification: UInt32(index))
        }
        var state: UInt64 = 9
        func next() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 11
        }
        let dataPath = DataPath()
        var processed: UInt64 = 0
        for round in 0..<20_000 {
            var frame = seeds[round % seeds.count]
            for _ in 0..<(1 + Int(next() % 3)) {
                guard !frame.isEmpty else { break }
                switch next() % 3 {
                case 0: frame[Int(next() % UInt64(frame.count))] ^= UInt8(truncatingIfNeeded: next())
                case 1: frame = Array(frame.prefix(Int(next() % UInt64(frame.count + 1))))
                default: frame[Int(next() % UInt64(frame.count))] = 0xFF
                }
            }
            frame.withUnsafeBytes {
                _ = dataPath.process(CapturedPacket(timestamp: UInt64(round) * 1_000_000, data: $0, originalLength: 0, linkType: .ethernet))
            }
            processed += 1
        }
        let counters = dataPath.counters
        #expect(counters.packets == processed)
        #expect(counters.malformed.total > 0 && counters.fragments > 0)
        #expect(dataPath.defragmentation.invalid + dataPath.defragmentation.overlaps + dataPath.defragmentation.reassembled > 0)
    }
}

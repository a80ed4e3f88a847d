import MBoxCapture

/// Writes deterministic captures for tests and benchmarks: HTTP, TLS, SSH and DNS flows,
/// interleaved, with the profile's out-of-order delivery, retransmissions, tiny
/// segments, split attack strings, sequence wrap-around, IPv6, VLAN tags and malformed
/// packets.
public struct TrafficGenerator {
    public let profile: TrafficProfile

    public init(profile: TrafficProfile) { self.profile = profile }

    /// Generates every packet into `writer` (Ethernet link type).
    @discardableResult
    public func write(to writer: PcapWriter) throws -> GenerationSummary {
        var rng = SplitMix64(seed: profile.seed)
        var summary = GenerationSummary()
        var malformed = MalformedPackets(builder: FrameBuilder(vlanIDs: profile.vlanIDs))
        var active: [Conversation] = []
        var nextFlow = 0
        var time = profile.startTime
        while nextFlow < profile.flows || !active.isEmpty {
            while active.count < profile.concurrency, nextFlow < profile.flows {
                active.append(makeConversation(index: nextFlow, rng: &rng, summary: &summary))
                nextFlow += 1
            }
            let pick = Int(rng.next() % UInt64(active.count))
            let frame = active[pick].packets[active[pick].next].frame
            active[pick].next += 1
            if active[pick].next == active[pick].packets.count { active.swapAt(pick, active.count - 1); active.removeLast() }

            if rng.chance(profile.malformed) {
                let (reason, bad) = malformed.next(rng: &rng)
                time += 1_000
                try writer.write(timestamp: time, bytes: bad)
                summary.malformed[reason, default: 0] += 1
                summary.packets += 1
                summary.bytes += bad.count
            }
            time += 1_000 + rng.next() % 20_000
            try writer.write(timestamp: time, bytes: frame)
            summary.packets += 1
            summary.bytes += frame.count
        }
        return summary
    }

    private func makeConversation(index: Int, rng: inout SplitMix64, summary: inout GenerationSummary) -> Conversation {
        let application = profile.applications[index % profile.applications.count]
        let ipv6 = rng.chance(profile.ipv6Share)
        let clientPort = UInt16(1024 + index % 64_000)
        let host = UInt32(index / 64_000)
        let client = Endpoint(address: ipv6 ? [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0] + bigEndian(host + 0x100)
                                            : [10, 1] + Array(bigEndian(UInt16(truncatingIfNeeded: host + 1))),
                              port: clientPort, mac: [0x02, 0, 0, 0, 0, 0x01])
        let serverHost = UInt8(1 + index % 200)
        let server = Endpoint(address: ipv6 ? [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [serverHost]
                                            : [192, 0, 2, serverHost],
                              port: application.serverPort, mac: [0x02, 0, 0, 0, 0, 0x02])
        let builder = FrameBuilder(vlanIDs: profile.vlanIDs)

        if application == .dns {
            summary.udpFlows += 1
            let id = UInt16(truncatingIfNeeded: rng.next())
            let name = Payloads.hosts.randomElement(using: &rng)!
            return Conversation(packets: [
                (true, builder.udp(from: client, to: server, payload: Payloads.dnsQuery(id: id, name: name))),
                (false, builder.udp(from: server, to: client,
                                    payload: Payloads.dnsResponse(id: id, name: name, address: [93, 184, 216, 34]))),
            ])
        }

        summary.tcpFlows += 1
        var tcp = ConversationBuilder(profile: profile, builder: builder, client: client, server: server, rng: &rng)
        tcp.handshake(rng: &rng)
        switch application {
        case .http:
            let attack = profile.attack.flatMap { rng.chance(profile.attackShare) ? $0 : nil }
            let request = Payloads.httpRequest(rng: &rng, insert: attack, bodySize: profile.requestBodySize)
            var cuts: [Int] = []
            if let attack, let start = firstIndex(of: Array(attack.utf8), in: request) {
                let pieces = max(1, min(profile.attackSegments, attack.utf8.count))
                cuts = (1..<pieces).map { start + attack.utf8.count * $0 / pieces }
                let clientText = ipv6 ? "[\(Endpoint.text(client.address))]" : Endpoint.text(client.address)
                summary.attackFlows.append("\(clientText):\(clientPort)")
            }
            tcp.burst(fromClient: true, request, cuts: cuts, rng: &rng)
            tcp.burst(fromClient: false, Payloads.httpResponse(rng: &rng, bodySize: profile.responseBodySize), rng: &rng)
        case .tls:
            let name = Payloads.hosts.randomElement(using: &rng)!
            tcp.burst(fromClient: true, Payloads.tlsClientHello(serverName: name, rng: &rng), rng: &rng)
            tcp.burst(fromClient: false, Payloads.tlsServerFlight(rng: &rng, size: profile.responseBodySize), rng: &rng)
        case .ssh:
            tcp.burst(fromClient: false, Payloads.sshBanner(server: true), rng: &rng)
            tcp.burst(fromClient: true, Payloads.sshBanner(server: false), rng: &rng)
            tcp.burst(fromClient: true, Payloads.sshKexInit(rng: &rng), rng: &rng)
            tcp.burst(fromClient: false, Payloads.sshKexInit(rng: &rng), rng: &rng)
        case .dns:
            break
        }
        tcp.close(rng: &rng)
        summary.lostBytes += tcp.lostBytes
        return Conversation(packets: tcp.packets)
    }

    private func firstIndex(of needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        return (0...(haystack.count - needle.count)).first { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}

extension Endpoint {
    /// Textual address (dotted quad, or full IPv6 groups compressed the usual way).
    static func text(_ address: [UInt8]) -> String {
        if address.count == 4 { return address.map(String.init).joined(separator: ".") }
        var groups = stride(from: 0, to: 16, by: 2).map { UInt16(address[$0]) << 8 | UInt16(address[$0 + 1]) }
        // Compress the longest run of zero groups (RFC 5952).
        var bestStart = -1, bestLength = 0, runStart = -1
        for index in 0...groups.count {
            if index < groups.count, groups[index] == 0 {
                if runStart < 0 { runStart = index }
            } else if runStart >= 0 {
                if index - runStart > bestLength, index - runStart > 1 { bestStart = runStart; bestLength = index - runStart }
                runStart = -1
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestStart >= 0 else { return hex.joined(separator: ":") }
        groups = []
        return hex[..<bestStart].joined(separator: ":") + "::" + hex[(bestStart + bestLength)...].joined(separator: ":")
    }
}

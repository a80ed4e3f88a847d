@testable import MBoxAppLayer
import MBoxDetect
import MBoxPacket
import MBoxRules
import Testing

/// Hostile input for the IDS's own parsers — rules, HTTP, TLS (certificates included), DNS,
/// SSH — mutated from valid seeds, deterministic and bounded: each must refuse or skip what
/// it cannot read, never crash.
@Suite("Hostile input: rules and application layer")
struct HostileInputTests {
    struct Mutator {
        var random: SplitMix
        init(state: UInt64) { random = SplitMix(state: state) }
        mutating func next() -> UInt64 { random.next() }
        mutating func below(_ bound: Int) -> Int { random.below(bound) }

        /// Flips, inserts, deletes, duplicates or truncates a few bytes.
        mutating func mutate(_ input: [UInt8]) -> [UInt8] {
            var bytes = input
            for _ in 0..<(1 + below(4)) {
                switch below(6) {
                case 0 where !bytes.isEmpty: bytes[below(bytes.count)] ^= UInt8(truncatingIfNeeded: 1 << below(8))
                case 1: bytes.insert(UInt8(truncatingIfNeeded: next()), at: below(bytes.count + 1))
                case 2 where !bytes.isEmpty: bytes.remove(at: below(bytes.count))
                case 3 where !bytes.isEmpty:
                    let start = below(bytes.count), length = below(min(64, bytes.count - start) + 1)
                    bytes.insert(contentsOf: bytes[start..<(start + length)], at: below(bytes.count + 1))
                case 4 where !bytes.isEmpty: bytes = Array(bytes.prefix(below(bytes.count + 1)))
                default: if !bytes.isEmpty { bytes[below(bytes.count)] = [0x00, 0xFF, 0x7F, 0x80][below(4)] }
                }
            }
            return bytes
        }
    }

    static let seedRules = [
        #"alert http any any -> any any (msg:"a"; flow:established,to_server; http.uri; content:"/x"; nocase; startswith; pcre:"/^\/x[0-9]{2}/R"; sid:1;)"#,
        #"alert tcp any any -> any any (msg:"b"; content:"|00 01|"; offset:2; depth:4; byte_test:2,>,100,0,relative; byte_jump:2,0,relative,align; isdataat:!4,relative; sid:2;)"#,
        #"alert dns any any -> any any (msg:"c"; dns.query; dotprefix; content:".evil.com"; endswith; bsize:<40; threshold:type limit, track by_src, count 1, seconds 60; sid:3;)"#,
        #"alert tls $HOME_NET any -> [1.2.3.0/24,!1.2.3.4] [443,8443:8445] (msg:"d"; tls.sni; content:"x"; flowbits:set,a; xbits:set,b,track ip_pair,expire 60; sid:4;)"#,
        #"alert ip any any -> any any (msg:"e"; content:"auth="; base64_decode:bytes 20,offset 0,relative; base64_data; content:"root"; byte_extract:1,0,n; content:"z"; distance:n; sid:5;)"#,
    ]

    @Test("mutated rules: each is loaded or refused with a reason; nothing crashes")
    func rules() throws {
        var mutator = Mutator(state: 1)
        var text = ""
        for round in 0..<3000 {
            let seed = Array(Self.seedRules[round % Self.seedRules.count].utf8)
            text += String(decoding: mutator.mutate(seed), as: UTF8.self).replacingOccurrences(of: "\n", with: " ") + "\n"
        }
        let set = RuleParser().parse(text, file: "mutated.rules")
        let engine = try DetectEngine(set)
        #expect(engine.rules.count + engine.problems.count >= 2900)
        #expect(engine.problems.allSatisfy { !$0.message.isEmpty })
        // What loaded also runs.
        let detector = try Detector(engine: engine, capacity: 4)
        var matched: [Int32] = []
        for round in 0..<200 {
            var facts = PacketFacts()
            facts.ipProtocol = [6, 17, 1][round % 3]
            let payload = mutator.mutate(Array("GET /x12 auth=cm9vdA== z".utf8))
            payload.withUnsafeBytes { detector.inspectPayload(facts, payload: $0, stream: round % 2 == 0, slot: 0, into: &matched) }
        }
    }

    static let seedStreams: [(UInt16, [UInt8], [UInt8])] = [
        (80, Array("GET /a%2e%2e/b HTTP/1.1\r\nHost: Example.COM:80\r\nCookie: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n".utf8),
         Array("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 10\r\n\r\n\u{1f}\u{8b}\u{08}\u{00}junkjunk".utf8)),
        (443, [0x16, 0x03, 0x01, 0x00, 0x31, 0x01, 0x00, 0x00, 0x2d, 0x03, 0x03] + Array(repeating: 7, count: 32)
            + [0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x08, 0x00, 0x06, 0x00, 0x00, 0x03, 0x61, 0x2e, 0x62],
         [0x16, 0x03, 0x03, 0x00, 0x20, 0x0b, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x19, 0x00, 0x00, 0x16, 0x30, 0x14, 0x30, 0x12, 0xa0, 0x03,
          0x02, 0x01, 0x02, 0x02, 0x01, 0x05, 0x30, 0x00, 0x30, 0x06, 0x31, 0x04, 0x30, 0x02, 0x06, 0x00]),
        (22, Array("SSH-2.0-OpenSSH_9.2\r\n".utf8), Array("SSH-2.0-dropbear\r\n".utf8)),
        (53, [0x00, 0x1d, 0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07] + Array("example".utf8)
            + [0x03] + Array("com".utf8) + [0x00, 0x00, 0x01, 0x00, 0x01], [0x00, 0x02, 0xc0, 0x0c]),
    ]

    @Test("mutated HTTP, TLS, SSH and DNS streams, cut anywhere: parsed or skipped, never a crash")
    func streams() {
        var mutator = Mutator(state: 2)
        var transactions = 0
        for round in 0..<4000 {
            let (port, request, response) = Self.seedStreams[round % Self.seedStreams.count]
            let flow = AppLayerFlow(serverPort: port, bodyLimit: 4096)
            let client = mutator.mutate(request), server = mutator.mutate(response)
            // Delivered in random pieces, the sides interleaved.
            var cursors = (0, 0)
            while cursors.0 < client.count || cursors.1 < server.count {
                if cursors.0 < client.count, mutator.below(2) == 0 || cursors.1 >= server.count {
                    let end = min(client.count, cursors.0 + 1 + mutator.below(16))
                    transactions += client[cursors.0..<end].withUnsafeBytes { flow.feed($0, toServer: true) }.count
                    cursors.0 = end
                } else {
                    let end = min(server.count, cursors.1 + 1 + mutator.below(16))
                    transactions += server[cursors.1..<end].withUnsafeBytes { flow.feed($0, toServer: false) }.count
                    cursors.1 = end
                }
            }
            transactions += flow.finish().count
            // The same bytes as one UDP DNS message, and as a certificate.
            _ = client.withUnsafeBytes { AppLayerFlow.dns($0, toServer: true) }
            _ = X509Names(server)
        }
        #expect(transactions > 1000, "most mutations still parse to something")
    }
}

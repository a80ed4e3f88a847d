import MBoxDPDK
import Testing

/// The RSS key the agent gives NICs for `--workers N`: both directions of a flow must hash
/// alike (one queue, one worker, one TCP Monitor for the flow), and flows must still spread
/// over the queues.
@Suite("RSS key", .enabled(if: dpdkInstalled, "DPDK is not installed (scripts/setup.sh installs libdpdk-dev)"))
struct RSSHashTests {
    /// The key of Microsoft's RSS specification, with its published verification hashes:
    /// the check that the hash is the NICs' Toeplitz hash over the fields in their order.
    static let specificationKey: [UInt8] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
        0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
        0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ]

    struct Tuple {
        var source: [UInt8], sourcePort: UInt16, destination: [UInt8], destinationPort: UInt16

        func hash(_ key: [UInt8]) -> UInt32 {
            RSSHash.hash(source: source, sourcePort: sourcePort, destination: destination, destinationPort: destinationPort, key: key)
        }

        var reversed: Tuple { Tuple(source: destination, sourcePort: destinationPort, destination: source, destinationPort: sourcePort) }
    }

    /// Deterministic flows: half IPv4, half IPv6.
    static func flows(_ count: Int) -> [Tuple] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 11
        }
        func address(_ length: Int) -> [UInt8] { (0..<length).map { _ in UInt8(truncatingIfNeeded: next()) } }
        return (0..<count).map { index in
            let length = index % 2 == 0 ? 4 : 16
            return Tuple(source: address(length), sourcePort: UInt16(truncatingIfNeeded: next()),
                         destination: address(length), destinationPort: UInt16(truncatingIfNeeded: next()))
        }
    }

    @Test("the hash is the RSS specification's (its verification vectors)")
    func specificationVectors() {
        let ipv4 = Tuple(source: [66, 9, 149, 187], sourcePort: 2794, destination: [161, 142, 100, 80], destinationPort: 1766)
        #expect(ipv4.hash(Self.specificationKey) == 0x51CC_C178)
        let ipv6 = Tuple(source: [0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x1f, 0xff, 0, 0, 0, 0, 0, 0, 0, 7], sourcePort: 2794,
                         destination: [0x3f, 0xfe, 0x25, 0x01, 0x02, 0x00, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, 1], destinationPort: 1766)
        #expect(ipv6.hash(Self.specificationKey) == 0x4020_7D3D)
    }

    @Test("the agent's key hashes both directions of every flow alike; the specification's key does not")
    func symmetric() {
        let key = RSSHash.symmetricKey()
        let flows = Self.flows(4000)
        #expect(flows.filter { $0.hash(key) != $0.reversed.hash(key) }.count == 0)
        // The control: symmetry is the key's doing, not the hash's.
        let asymmetric = flows.filter { $0.hash(Self.specificationKey) != $0.reversed.hash(Self.specificationKey) }.count
        #expect(asymmetric > flows.count * 9 / 10)
    }

    @Test("with the agent's key, flows spread evenly over 2, 4 and 8 queues")
    func spread() {
        let key = RSSHash.symmetricKey()
        let hashes = Self.flows(8000).map { $0.hash(key) }
        for queues in [2, 4, 8] {
            var perQueue = [Int](repeating: 0, count: queues)
            for hash in hashes { perQueue[Int(hash % UInt32(queues))] += 1 }
            let fair = hashes.count / queues
            #expect(perQueue.allSatisfy { $0 > fair * 9 / 10 && $0 < fair * 11 / 10 }, "\(queues) queues: \(perQueue)")
        }
    }
}

import MBoxTCPMonitor
import Testing

/// Feeds a reassembler directly and collects what it delivers.
final class StreamProbe {
    let reassembler: StreamReassembler
    var bytes: [UInt8] = []
    var gaps: [(offset: UInt64, length: Int)] = []
    var offsets: [UInt64] = []
    let slot: Int32 = 1

    init(_ configure: (inout ReassemblyConfiguration) -> Void = { _ in }) {
        var configuration = ReassemblyConfiguration()
        configure(&configuration)
        reassembler = StreamReassembler(capacity: 4, configuration: configuration)
        reassembler.open(slot: slot, flowID: 42)
    }

    func start(at sequence: UInt32) {
        reassembler.setInitialSequence(slot: slot, direction: .toServer, sequence)
    }

    func collect() {
        for chunk in reassembler.chunks {
            #expect(chunk.flowID == 42 && chunk.direction == .toServer)
            #expect(chunk.offset == UInt64(bytes.count + gaps.reduce(0) { $0 + $1.length }), "offsets are contiguous")
            offsets.append(chunk.offset)
            if chunk.isGap { gaps.append((chunk.offset, chunk.length)) } else { bytes += chunk.buffer }
        }
    }

    func send(_ sequence: UInt32, _ text: String) {
        reassembler.beginPacket()
        Array(text.utf8).withUnsafeBytes {
            reassembler.accept(slot: slot, direction: .toServer, sequence: sequence, payload: $0)
            collect()  // in-order chunks point into the payload: read them while it lives
        }
    }

    func ack(_ acknowledgment: UInt32) {
        reassembler.beginPacket()
        reassembler.acknowledge(slot: slot, direction: .toServer, acknowledgment)
        collect()
    }

    func close() {
        reassembler.beginPacket()
        reassembler.close(slot: slot)
        collect()
    }

    var text: String { String(decoding: bytes, as: UTF8.self) }
}

@Suite("Stream reassembly")
struct ReassemblerTests {
    @Test("in-order bytes are delivered in place, without a copy")
    func zeroCopy() {
        let probe = StreamProbe()
        probe.start(at: 1000)
        let payload: [UInt8] = Array("GET / HTTP/1.1\r\n".utf8)
        payload.withUnsafeBytes { buffer in
            probe.reassembler.beginPacket()
            probe.reassembler.accept(slot: 1, direction: .toServer, sequence: 1000, payload: buffer)
            let chunks = probe.reassembler.chunks
            #expect(chunks.count == 1)
            #expect(chunks.first?.bytes == buffer.baseAddress)
            #expect(chunks.first?.length == payload.count && chunks.first?.offset == 0)
        }
        #expect(probe.reassembler.bytesInUse == 0)
    }

    @Test("out-of-order segments wait for the hole and come out in order")
    func outOfOrder() {
        let probe = StreamProbe()
        probe.start(at: 1)
        probe.send(11, "klmno")
        probe.send(6, "fghij")
        #expect(probe.bytes.isEmpty)
        #expect(probe.reassembler.bufferedBytes(slot: 1, direction: .toServer) == 2 * 256, "two small blocks")
        probe.send(1, "abcde")
        #expect(probe.text == "abcdefghijklmno")
        #expect(probe.reassembler.offset(slot: 1, direction: .toServer) == 15)
        probe.send(16, "p")
        #expect(probe.reassembler.bytesInUse == 0)
    }

    @Test("retransmissions are delivered once and counted")
    func retransmission() {
        let probe = StreamProbe()
        probe.start(at: 1)
        probe.send(1, "hello ")
        probe.send(1, "hello ")
        probe.send(4, "lo world")
        probe.send(13, "dup-ahead")
        probe.send(13, "dup-ahead")
        #expect(probe.text == "hello world")
        #expect(probe.reassembler.counters.duplicateBytes == 6 + 3 + 9)
    }

    @Test("overlapping bytes: first copy wins by default")
    func firstWins() {
        let probe = StreamProbe()
        probe.start(at: 1)
        probe.send(5, "EFGH")
        probe.send(3, "cdXXXXij")  // overlaps the buffered EFGH with different bytes
        probe.send(1, "ab")
        #expect(probe.text == "abcdEFGHij")
        #expect(probe.reassembler.counters.conflictingBytes == 4)
    }

    @Test("overlapping bytes: last copy wins when configured")
    func lastWins() {
        let probe = StreamProbe { $0.overlapPolicy = .last }
        probe.start(at: 1)
        probe.send(5, "EFGH")
        probe.send(3, "cdXXXXij")
        probe.send(1, "ab")
        #expect(probe.text == "abcdXXXXij")
        // Bytes already delivered never change, whatever the policy.
        probe.send(1, "ZZ")
        #expect(probe.text == "abcdXXXXij")
    }

    @Test("sequence numbers wrap around 2^32")
    func wrapAround() {
        let probe = StreamProbe()
        probe.start(at: UInt32.max - 2)
        probe.send(1, "wxyz")                // after the wrap: out of order
        probe.send(UInt32.max - 2, "stuv")   // covers max-2 ... 0
        #expect(probe.text == "stuvwxyz")
        probe.send(UInt32.max, "uv")         // an old retransmission across the wrap
        #expect(probe.text == "stuvwxyz")
    }

    @Test("an ACK past a hole turns the hole into a gap and delivers what follows")
    func gapOnAck() {
        let probe = StreamProbe()
        probe.start(at: 100)
        probe.send(100, "0123")
        probe.send(110, "abcd")
        probe.ack(104)
        #expect(probe.gaps.isEmpty)
        probe.ack(116)
        #expect(probe.gaps.count == 2)
        #expect(probe.gaps[0].offset == 4 && probe.gaps[0].length == 6)
        #expect(probe.gaps[1].offset == 14 && probe.gaps[1].length == 2)
        #expect(probe.text == "0123abcd")
        probe.send(116, "more")
        #expect(probe.text == "0123abcdmore")
        #expect(probe.reassembler.counters.gapBytes == 8)
    }

    @Test("closing delivers buffered data with gaps, and refuses later bytes")
    func gapOnClose() {
        let probe = StreamProbe()
        probe.start(at: 1)
        probe.send(1, "ab")
        probe.send(5, "ef")
        probe.send(9, "ij")
        probe.reassembler.setFIN(slot: 1, direction: .toServer, sequence: 13)
        probe.close()
        #expect(probe.text == "abefij")
        #expect(probe.gaps.map(\.length) == [2, 2, 2])
        probe.send(3, "cd")
        #expect(probe.text == "abefij")
        #expect(probe.reassembler.counters.droppedAfterClose == 2)
        #expect(probe.reassembler.bytesInUse == 0)
    }

    @Test("the per-direction limit refuses and counts what does not fit")
    func perDirectionLimit() {
        let probe = StreamProbe { $0.blockSize = 64; $0.perDirectionLimit = 128; $0.globalLimit = 4096 }
        probe.start(at: 0)
        probe.send(100, String(repeating: "x", count: 200))  // needs 4 blocks, 2 allowed
        #expect(probe.reassembler.counters.droppedOverFlowLimit == 72)
        #expect(probe.reassembler.bytesInUse == 2 * 64)
        probe.ack(300)
        #expect(probe.text == String(repeating: "x", count: 128))
        #expect(probe.gaps.map(\.length) == [100, 72])
    }

    @Test("the global limit bounds memory across flows")
    func globalLimit() {
        var configuration = ReassemblyConfiguration()
        configuration.blockSize = 64
        configuration.perDirectionLimit = 1024
        configuration.globalLimit = 256
        let reassembler = StreamReassembler(capacity: 8, configuration: configuration)
        let payload = [UInt8](repeating: 1, count: 64)
        for slot in Int32(0)..<8 {
            reassembler.open(slot: slot, flowID: UInt64(slot))
            reassembler.setInitialSequence(slot: slot, direction: .toClient, 0)
            payload.withUnsafeBytes { reassembler.accept(slot: slot, direction: .toClient, sequence: 1000, payload: $0) }
        }
        #expect(reassembler.bytesInUse == 4 * 64)
        #expect(reassembler.counters.droppedOverGlobalLimit == 4 * 64)
        // Reopening a slot gives its blocks back.
        reassembler.open(slot: 0, flowID: 100)
        #expect(reassembler.bytesInUse == 3 * 64)
    }

    @Test("a segment far beyond any window is refused")
    func outOfReach() {
        let probe = StreamProbe()
        probe.start(at: 0)
        probe.send(0x7000_0000, "evil")
        #expect(probe.reassembler.counters.droppedOutOfReach == 4)
        #expect(probe.reassembler.bytesInUse == 0)
    }

    @Test("a flood of one-byte out-of-order segments over many flows neither fills the store nor starves a flow that comes later")
    func junkFlood() {
        var configuration = ReassemblyConfiguration()
        configuration.perDirectionLimit = 64 * 1024
        configuration.globalLimit = 4 * 1024 * 1024
        let reassembler = StreamReassembler(capacity: 1200, configuration: configuration)
        let junk: [UInt8] = [0x2A]
        // 1,100 flows, 128 one-byte segments each, every other byte (so none joins another).
        for slot in Int32(0)..<1100 {
            reassembler.open(slot: slot, flowID: UInt64(slot))
            reassembler.setInitialSequence(slot: slot, direction: .toServer, 0)
            for index in 0..<128 {
                reassembler.beginPacket()
                junk.withUnsafeBytes { reassembler.accept(slot: slot, direction: .toServer, sequence: UInt32(10 + 2 * index), payload: $0) }
            }
        }
        // Each byte holds a small block: 1,100 × 128 × 256 bytes would be 36 MB; the store
        // (4 MiB) is full, and the junk flows hold more than an equal share.
        #expect(reassembler.bytesInUse > reassembler.storeBytes / 2)
        // The real attack, out of order, in a new flow: its bytes are buffered (junk gives
        // way) and come out whole when the hole fills.
        let attack = Array("GET /cgi-bin/../../etc/passwd HTTP/1.1\r\n\r\n".utf8)
        reassembler.open(slot: 1150, flowID: 1150)
        reassembler.setInitialSequence(slot: 1150, direction: .toServer, 0)
        var delivered: [UInt8] = []
        for (offset, length) in [(20, attack.count - 20), (0, 20)] {
            reassembler.beginPacket()
            attack[offset..<(offset + length)].withUnsafeBytes {
                reassembler.accept(slot: 1150, direction: .toServer, sequence: UInt32(offset), payload: $0)
            }
            for chunk in reassembler.chunks where chunk.slot == 1150 { delivered += chunk.buffer }
        }
        #expect(String(decoding: delivered, as: UTF8.self) == String(decoding: attack, as: UTF8.self))
        #expect(reassembler.counters.evictedBytes > 0 || reassembler.counters.droppedOverGlobalLimit == 0)
        #expect(reassembler.bytesInUse <= reassembler.storeBytes)
    }
}

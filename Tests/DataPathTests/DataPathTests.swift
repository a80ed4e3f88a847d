import Foundation
import MBoxCapture
import MBoxDataPath
import MBoxPacket
import MBoxTCPMonitor
import MBoxTrafficGen
import Testing

@Suite("Data path")
struct DataPathTests {
    @Test("every malformed packet is counted under the reason it was made with; good flows are untouched")
    func malformedCounted() throws {
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.seed = 21
        profile.flows = 200
        profile.malformed = 0.3
        profile.vlanIDs = [42]
        let pcap = scratch.file("malformed.pcap")
        let summary = try generate(profile, to: pcap)
        let (lines, dataPath) = try replayStreams(pcap, scratch: scratch)
        let made = summary.malformed.values.reduce(0, +)
        #expect(made > 100)
        #expect(dataPath.counters.malformed.total == UInt64(made))
        let counted = Dictionary(uniqueKeysWithValues: dataPath.counters.malformed.nonZero.map { ($0.0, Int($0.1)) })
        #expect(counted == summary.malformed)
        #expect(lines.count == summary.tcpFlows)
        #expect(dataPath.counters.packets == UInt64(summary.packets))
    }

    @Test("random and truncated packets never crash the data path; everything is accounted for")
    func hostilePackets() throws {
        var profile = TrafficProfile()
        profile.seed = 5
        profile.flows = 40
        profile.ipv6Share = 0.5
        let writer = try PcapWriter(.memory)
        try TrafficGenerator(profile: profile).write(to: writer)
        var frames: [[UInt8]] = []
        try writer.memory.withUnsafeBytes { buffer in
            let reader = try CaptureFileReader(bytes: buffer)
            while let packet = try reader.next() { frames.append(Array(packet.data)) }
        }
        var configuration = DataPathConfiguration()
        configuration.flowTable = .init(capacity: 64)
        configuration.reassembly?.globalLimit = 1 << 20
        let dataPath = DataPath(configuration: configuration)
        var rng = SplitMix64(seed: 77)
        var outcomes = [String: Int]()
        for round in 0..<60_000 {
            var frame = frames[Int(rng.next() % UInt64(frames.count))]
            switch round % 3 {
            case 0:
                frame = Array(frame.prefix(Int(rng.next() % UInt64(frame.count + 1))))
            case 1:
                for _ in 0..<(1 + rng.next() % 6) { frame[Int(rng.next() % UInt64(frame.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            default:
                frame = (0..<Int(rng.next() % 128)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            }
            let disposition = frame.withUnsafeBytes {
                dataPath.process(CapturedPacket(timestamp: UInt64(round) * 1000, data: $0,
                                                originalLength: UInt32($0.count), linkType: .ethernet))
            }
            switch disposition {
            case .flow: outcomes["flow", default: 0] += 1
            case .malformed: outcomes["malformed", default: 0] += 1
            case .notIP: outcomes["notIP", default: 0] += 1
            case .fragment: outcomes["fragment", default: 0] += 1
            case .answered: outcomes["answered", default: 0] += 1
            }
        }
        dataPath.finishAll()
        let c = dataPath.counters
        #expect(c.packets == 60_000)
        #expect(c.ipv4 + c.ipv6 + c.notIP + c.fragments + c.malformed.total == c.packets)
        #expect(outcomes["flow", default: 0] > 1000 && outcomes["malformed", default: 0] > 1000)
        #expect(dataPath.flows.count == 0)
        #expect(dataPath.monitor.reassembler!.bytesInUse <= 1 << 20)
    }

    @Test("a full flow table evicts the oldest flow, which still ends with its streams")
    func eviction() throws {
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.seed = 8
        profile.flows = 100
        profile.concurrency = 32
        profile.applications = [.http]
        let pcap = scratch.file("evict.pcap")
        try generate(profile, to: pcap)
        var configuration = DataPathConfiguration()
        configuration.flowTable = .init(capacity: 8)
        let (lines, dataPath) = try replayStreams(pcap, configuration: configuration, scratch: scratch)
        #expect(dataPath.flows.counters.evicted > 0)
        #expect(lines.contains { $0["end"] as? String == "evicted" })
        #expect(dataPath.flows.count == 0)
        // Evicted flows come back as new flows picked up mid-stream; no stream is lost silently.
        #expect(dataPath.monitor.counters.midStreamPickups > 0)
    }

    @Test("idle flows expire by capture time")
    func idleTimeout() throws {
        var configuration = DataPathConfiguration()
        configuration.flowTable = .init(capacity: 16, idleTimeoutSeconds: 1)
        let dataPath = DataPath(configuration: configuration)
        let client = Endpoint(address: [10, 0, 0, 1], port: 1000, mac: [2, 0, 0, 0, 0, 1])
        let server = Endpoint(address: [10, 0, 0, 2], port: 53, mac: [2, 0, 0, 0, 0, 2])
        let query = FrameBuilder().udp(from: client, to: server, payload: [1, 2, 3])
        var other = client
        other.port = 1001
        let second = FrameBuilder().udp(from: other, to: server, payload: [4])
        for (time, frame) in [(UInt64(0), query), (UInt64(500_000_000), query), (UInt64(1_400_000_000), second)] {
            _ = frame.withUnsafeBytes {
                dataPath.process(CapturedPacket(timestamp: time, data: $0, originalLength: UInt32($0.count), linkType: .ethernet))
            }
        }
        #expect(dataPath.flows.counters.expired == 0)
        _ = second.withUnsafeBytes {
            dataPath.process(CapturedPacket(timestamp: 2_000_000_000, data: $0, originalLength: 0, linkType: .ethernet))
        }
        #expect(dataPath.flows.counters.expired == 1)
        #expect(dataPath.endedFlows.first?.reason == .idleTimeout && dataPath.endedFlows.first?.key.clientPort == 1000)
    }

    @Test("segments lost before the capture show up as gaps of exactly their size")
    func lostSegmentsAreGaps() throws {
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.seed = 31
        profile.flows = 50
        profile.applications = [.http]
        profile.lostSegments = 0.2
        profile.responseBodySize = 8000
        let pcap = scratch.file("lost.pcap")
        let summary = try generate(profile, to: pcap)
        #expect(summary.lostBytes > 0)
        let (lines, _) = try replayStreams(pcap, scratch: scratch)
        let gapBytes = lines.reduce(0) { $0 + ($1["gap_bytes_to_server"] as! Int) + ($1["gap_bytes_to_client"] as! Int) }
        #expect(gapBytes == summary.lostBytes)
    }

    static let client = Endpoint(address: [10, 0, 0, 1], port: 1000, mac: [2, 0, 0, 0, 0, 1])
    static let server = Endpoint(address: [10, 0, 0, 2], port: 80, mac: [2, 0, 0, 0, 0, 2])

    /// A TCP segment of a hand-made conversation.
    func segment(_ flags: UInt8, _ seq: UInt32, _ ack: UInt32, _ text: String = "") -> FrameBuilder.TCPSegment {
        FrameBuilder.TCPSegment(flags: flags, sequence: seq, acknowledgment: ack, payload: Array(text.utf8))
    }

    @Test("a new SYN on a closed flow's ports starts a new flow")
    func portReuse() throws {
        let (client, server) = (Self.client, Self.server)
        let b = FrameBuilder()
        let frames = [
            b.tcp(from: client, to: server, segment(0x02, 10, 0)),
            b.tcp(from: server, to: client, segment(0x12, 50, 11)),
            b.tcp(from: client, to: server, segment(0x18, 11, 51, "one")),
            b.tcp(from: client, to: server, segment(0x14, 14, 51)),
            b.tcp(from: client, to: server, segment(0x02, 9000, 0)),
            b.tcp(from: server, to: client, segment(0x12, 70, 9001)),
            b.tcp(from: client, to: server, segment(0x18, 9001, 71, "two")),
        ]
        let dataPath = DataPath()
        var ended: [FlowEnd] = []
        var streams: [UInt64: [UInt8]] = [:]
        for (index, frame) in frames.enumerated() {
            frame.withUnsafeBytes {
                _ = dataPath.process(CapturedPacket(timestamp: UInt64(index), data: $0, originalLength: 0, linkType: .ethernet))
                for chunk in dataPath.chunks { streams[chunk.flowID, default: []] += chunk.buffer }
            }
            ended += dataPath.endedFlows
        }
        #expect(ended.count == 1 && ended.first?.reason == .reused)
        #expect(dataPath.flows.counters.created == 2)
        #expect(streams.values.map { String(decoding: $0, as: UTF8.self) }.sorted() == ["one", "two"])
    }

    @Test("a data segment with a wrong checksum is not stream data: the receiver drops it, and so does reassembly")
    func badChecksumDecoy() throws {
        let (client, server) = (Self.client, Self.server)
        let b = FrameBuilder()
        var decoy = b.tcp(from: client, to: server, segment(0x18, 11, 51, "GET /innocent"))
        decoy[14 + 20 + 16] ^= 0xFF  // the TCP checksum's first byte
        let frames = [
            b.tcp(from: client, to: server, segment(0x02, 10, 0)),
            b.tcp(from: server, to: client, segment(0x12, 50, 11)),
            b.tcp(from: client, to: server, segment(0x10, 11, 51)),
            decoy,
            b.tcp(from: client, to: server, segment(0x18, 11, 51, "GET /attack!!")),
            b.tcp(from: server, to: client, segment(0x10, 51, 24)),
        ]
        for mode in [DataPathConfiguration.ChecksumValidation.auto, .yes, .no] {
            var configuration = DataPathConfiguration()
            configuration.checksumValidation = mode
            let dataPath = DataPath(configuration: configuration)
            var stream: [UInt8] = []
            for (index, frame) in frames.enumerated() {
                frame.withUnsafeBytes {
                    _ = dataPath.process(CapturedPacket(timestamp: UInt64(index), data: $0, originalLength: 0, linkType: .ethernet))
                    for chunk in dataPath.chunks { stream += chunk.buffer }
                }
            }
            // Unchecked, the decoy arrives first and its bytes are kept (first wins).
            #expect(String(decoding: stream, as: UTF8.self) == (mode == .no ? "GET /innocent" : "GET /attack!!"), "\(mode)")
            #expect(dataPath.counters.badChecksums == (mode == .no ? 0 : 1))
        }
    }
}

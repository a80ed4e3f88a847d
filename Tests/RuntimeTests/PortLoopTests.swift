import Foundation
import MBoxCapture
import MBoxChain
import MBoxDataPath
import MBoxRuntime
import MBoxTrafficGen
import Testing

/// The one port loop, driven through the in-memory and capture-file ports, with tshark as
/// the oracle of what left.
@Suite("Port loop: in-memory and capture-file ports")
struct PortLoopTests {
    static let firewall = """
        name: edge
        stack: {type: l2l3}
        functions:
          - name: firewall
            type: Firewall
            parameters:
              rules:
                - {action: drop, proto: tcp, dst_port: "22"}
            subscribe: [PKT]
        """

    /// A runtime for `yaml`'s chain (no controller, no EVE).
    func runtime(_ yaml: String) throws -> AgentRuntime {
        let compiled = try ChainCompiler().compile(try ChainParser().parse(yaml, file: "test.yaml"), resources: BuildResources())
        let pipeline = try compiled.makePipeline(configuration: DataPathConfiguration(), keepBothStreams: false, launcher: .threads)
        return AgentRuntime(dataPath: pipeline.dataPath, pipeline: pipeline, chainName: "edge", eve: nil, control: nil)
    }

    @Test("inline through memory ports, a firewall chain dropping flows to port 22 forwards exactly what tshark finds outside them, in order")
    func firewallThroughMemoryPorts() throws {
        try #require(installed("tshark"), "tshark is the oracle (apt-get install tshark)")
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.flows = 60
        profile.applications = [.http, .ssh, .dns]
        try generate(profile, to: scratch.file("in.pcap"))

        let wire = MemoryPort(name: "wire", id: 0)
        let onward = MemoryPort(name: "onward", id: 1)
        try wire.enqueue(contentsOf: CaptureFileReader(path: scratch.file("in.pcap")))
        let queued = wire.pending
        let agent = try runtime(Self.firewall)
        try PortLoop(input: wire, output: onward, stop: .endOfInput).run(agent.nextBurst)
        try agent.finish(timestamp: wire.clock)

        let left = onward.sent
        #expect(left.allSatisfy { $0.forwarded }, "a firewall emits no frames of its own")
        try writeCapture(left.map { ($0.bytes, $0.timestamp) }, to: scratch.file("out.pcap"))
        // The firewall judges a flow by its client-to-server tuple: both directions of an SSH flow go.
        let expected = try tsharkFrames(scratch.file("in.pcap"), filter: "!(tcp.port == 22)")
        let dropped = try tsharkFrames(scratch.file("in.pcap"), filter: "tcp.port == 22")
        try #require(!dropped.isEmpty, "the capture has no SSH client packets; nothing was tested")
        #expect(try tsharkFrames(scratch.file("out.pcap")) == expected)
        #expect(Int(wire.counters.rxPackets) == queued)
        #expect(Int(wire.counters.droppedByVerdict) == dropped.count)
        #expect(agent.pipeline?.dropped == UInt64(dropped.count))
    }

    @Test("capture file to capture file: with no chain every packet is written back as tshark read it")
    func captureFilePortsCopy() throws {
        try #require(installed("tshark"), "tshark is the oracle (apt-get install tshark)")
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.flows = 40
        profile.ipv6Share = 0.3
        try generate(profile, to: scratch.file("in.pcap"))
        let input = try CaptureFilePort(reading: scratch.file("in.pcap"))
        let output = try CaptureFilePort(writing: scratch.file("out.pcap"), linkType: input.source?.linkType ?? .ethernet)
        let agent = AgentRuntime(dataPath: DataPath(configuration: DataPathConfiguration()), pipeline: nil, chainName: "", eve: nil,
                                 control: nil)
        try PortLoop(input: input, output: output, stop: .endOfInput).run(agent.nextBurst)
        try output.close()
        #expect(input.failure == nil && output.writeFailure == nil)
        let read = try tsharkFrames(scratch.file("in.pcap"))
        #expect(read.count > 100)
        #expect(try tsharkFrames(scratch.file("out.pcap")) == read)
        #expect(input.counters.rxPackets == UInt64(read.count) && output.counters.txPackets == UInt64(read.count))
        #expect(agent.dataPath.counters.packets == UInt64(read.count))
    }

    @Test("a capture cut mid-record: the loop ends, the packets before the cut went through, the failure is kept")
    func truncatedCapture() throws {
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.flows = 10
        try generate(profile, to: scratch.file("whole.pcap"))
        let whole = try #require(FileManager.default.contents(atPath: scratch.file("whole.pcap")))
        _ = FileManager.default.createFile(atPath: scratch.file("cut.pcap"), contents: whole.prefix(whole.count - 7))
        let reader = try CaptureFileReader(path: scratch.file("whole.pcap"))
        var total = 0
        while try reader.next() != nil { total += 1 }

        let input = try CaptureFilePort(reading: scratch.file("cut.pcap"))
        let agent = AgentRuntime(dataPath: DataPath(configuration: DataPathConfiguration()), pipeline: nil, chainName: "", eve: nil,
                                 control: nil)
        try PortLoop(input: input, stop: .endOfInput).run(agent.nextBurst)
        #expect(input.failure != nil)
        #expect(input.isExhausted)
        #expect(agent.dataPath.counters.packets == UInt64(total - 1))
    }

    @Test("a live in-memory port that stays empty ends an idle-bounded loop; one that stays busy ends a time-bounded one")
    func stopConditions() throws {
        let live = MemoryPort(endsWhenEmpty: false)
        for index in 0..<100 { live.enqueue([UInt8](repeating: UInt8(index), count: 60)) }
        let agent = AgentRuntime(dataPath: DataPath(configuration: DataPathConfiguration()), pipeline: nil, chainName: "", eve: nil,
                                 control: nil)
        try PortLoop(input: live, stop: .idle(milliseconds: 20)).run(agent.nextBurst)
        #expect(live.counters.rxPackets == 100)
        #expect(!live.isExhausted)
        // Nothing ever arrives: only the time limit ends it.
        try PortLoop(input: live, stop: .after(seconds: 0.05)).run(agent.nextBurst)
        #expect(agent.dataPath.counters.packets == 100)
    }

    @Test("a Logger NF on the real loop writes, through its file's thread, one whole line per packet tshark counts")
    func loggerLinesReachTheFile() throws {
        try #require(installed("tshark"), "tshark is the oracle (apt-get install tshark)")
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.flows = 300  // more than one 64 KiB batch of lines
        try generate(profile, to: scratch.file("in.pcap"))
        let agent = try runtime("""
            name: log
            stack: {type: l2l3}
            functions:
              - name: log
                type: Logger
                parameters: {path: \(scratch.file("log.txt"))}
                subscribe: [PKT]
            """)
        let input = try CaptureFilePort(reading: scratch.file("in.pcap"))
        try PortLoop(input: input, stop: .endOfInput).run(agent.nextBurst)
        try agent.finish(timestamp: input.clock)
        let lines = try String(contentsOfFile: scratch.file("log.txt"), encoding: .utf8).split(separator: "\n")
        let frames = try tsharkFrames(scratch.file("in.pcap"))
        #expect(lines.count == frames.count)
        #expect(lines.allSatisfy { $0.contains(" PKT flow=") && $0.contains(" len=") }, "every line whole")
    }
}

import Foundation
import MBoxCapture
import MBoxChain
import MBoxDataPath
import MBoxNFRunner
import MBoxRuntime
import MBoxTCPMonitor

/// The whole agent as it runs: frames cut from the input (length-prefixed, with time
/// steps) queued on an in-memory port, the real port loop, the data path and a chain of
/// every passive NF kind (Firewall, DPI, Signature_Match with HTTP/TLS/DNS/SSH rules, flow
/// statistics) under small limits. Forwarded plus dropped plus consumed must equal received.
enum AgentFuzzTarget {
    static let chain = """
        name: fuzz
        stack: {type: tcp_monitor, reassembly: true}
        functions:
          - name: firewall
            type: Firewall
            parameters:
              rules:
                - {action: drop, proto: tcp, dst_port: "23"}
            subscribe: [PKT]
          - name: dpi
            type: DPI
            subscribe:
              - {event: DATA_RDY}
            publish: [EVENT/DPI_DETECT]
          - name: signature_match
            type: Signature_Match
            subscribe:
              - {event: PKT, stack: sender}
              - {event: DATA_RDY}
              - {event: FLOW_DEST}
            publish: [EVENT/IDS_ALERT]
          - name: stats
            type: Flow_Stats
            subscribe: [PKT]
        """

    static let rules = """
        alert http any any -> any any (msg:"uri"; flow:to_server; http.uri; content:"/admin"; nocase; sid:1;)
        alert http any any -> any any (msg:"ua"; http.user_agent; content:"curl"; sid:2;)
        alert tls any any -> any any (msg:"sni"; tls.sni; content:"example"; sid:3;)
        alert dns any any -> any any (msg:"query"; dns.query; content:"evil"; sid:4;)
        alert tcp any any -> any any (msg:"stream"; flow:established; content:"UNION SELECT"; nocase; sid:5;)
        alert tcp any any -> any any (msg:"pcre"; pcre:"/pass(word)?=[^&]{8,}/i"; sid:6;)
        alert ssh any any -> any any (msg:"ssh"; ssh.software; content:"OpenSSH"; sid:7;)
        alert udp any any -> any 53 (msg:"udp"; dsize:>200; sid:8;)
        """

    /// Compiled once: each input gets fresh stages from it (as each worker does).
    static let compiled: CompiledChain = {
        let path = NSTemporaryDirectory() + "mbox-fuzz-agent-\(getpid()).rules"
        _ = FileManager.default.createFile(atPath: path, contents: Data(rules.utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let definition = try ChainParser().parse(chain, file: "fuzz.yaml")
            return try ChainCompiler().compile(definition, resources: BuildResources(rulesOverride: path))
        } catch {
            fatalError("the agent fuzz target's chain does not compile: \(error)")
        }
    }()

    static func run(_ bytes: UnsafeRawBufferPointer) {
        var input = FuzzInput(bytes)
        let configuration = smallDataPathConfiguration(perDirection: 8192, global: 32 * 1024)
        let pipeline: Pipeline
        do {
            pipeline = try compiled.makePipeline(configuration: configuration, keepBothStreams: false, launcher: .threads)
        } catch {
            fatalError("the agent fuzz target's stages cannot be made: \(error)")
        }
        let agent = AgentRuntime(dataPath: pipeline.dataPath, pipeline: pipeline, chainName: "fuzz", eve: nil, control: nil)
        let wire = MemoryPort(name: "in", id: 0)
        let onward = MemoryPort(name: "out", id: 1)
        var timestamp: UInt64 = 1_700_000_000_000_000_000
        while !input.isEmpty {
            let frame = input.take(input.u16() % 2048)
            timestamp += UInt64(input.byte()) * 1_000_000
            wire.enqueue(Array(frame), at: timestamp)
        }
        let received = wire.pending
        do {
            try PortLoop(input: wire, output: onward, stop: .endOfInput).run(agent.nextBurst)
            try agent.finish(timestamp: wire.clock)
        } catch {
            fatalError("the loop failed without an output to fail: \(error)")
        }
        let c = wire.counters
        fuzzCheck(Int(c.rxPackets) == received, "received \(c.rxPackets) of \(received) queued")
        let forwarded = onward.sent.filter(\.forwarded).count
        fuzzCheck(forwarded + Int(c.droppedByVerdict) + Int(pipeline.consumed) == received,
                  "forwarded \(forwarded) + dropped \(c.droppedByVerdict) + consumed \(pipeline.consumed) != received \(received)")
        fuzzCheck(pipeline.dataPath.flows.count <= 64, "flow table over its capacity")
    }
}

import ArgumentParser
import Foundation
import MBoxCapture
import MBoxDataPath
import MBoxDPDK
import MBoxNFRunner
import MBoxTransmit
import MBoxNFs
import MBoxRuntime

/// `mbox-agent replay`: runs a capture (a file, or a finite DPDK source) through the agent.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a pcap or pcapng file (or a DPDK port) through the agent: data path, events, NF chain.",
        discussion: """
        With --rules or --chain, packets go on through the event source and an NF chain \
        (without --chain: the IDS chain, chains/ids.yaml — TCP Monitor with reassembly, DPI, \
        Signature_Match with dynamic subscriptions); --eve writes its alerts as Suricata EVE \
        JSON lines. With --streams, writes one JSON object per TCP flow per line: the client \
        (src) and server (dest) endpoints and both reassembled streams in base64. With --dpdk \
        the packets come from a DPDK port (e.g. net_pcap) until it stays idle for --idle-stop \
        ms; with --out-port they leave through another port by verdict. A summary goes to stderr.
        """)

    @Option(help: "Capture file to read (pcap or pcapng).")
    var pcap: String?

    @Option(help: "Write each TCP flow's reassembled streams here as JSON lines.")
    var streams: String?

    @Option(help: "With --pcap, write the packets the chain forwards (and frames its stages send onward) to this pcap file, as an inline agent's output port would carry them.")
    var outPcap: String?

    @Option(help: "With --dpdk, stop after this many milliseconds without a packet.")
    var idleStop: Int = 500

    @OptionGroup var ports: DPDKOptions
    @OptionGroup var chain: ChainOptions
    @OptionGroup var stack: StackOptions

    func validate() throws {
        guard (pcap == nil) != (ports.dpdk == nil) else {
            throw ValidationError("give exactly one source: --pcap FILE or --dpdk \"EAL arguments\"")
        }
        if ports.outPort != nil || ports.port != nil, ports.dpdk == nil {
            throw ValidationError("--port and --out-port need --dpdk")
        }
        if ports.workers != 1 {
            guard ports.dpdk != nil, streams == nil, chain.wanted, (1...64).contains(ports.workers) else {
                throw ValidationError("--workers (1–64) needs --dpdk and a chain (--rules/--chain), and not --streams")
            }
        }
        if outPcap != nil, pcap == nil { throw ValidationError("--out-pcap needs --pcap (with --dpdk, give --out-port)") }
        if stack.noReassembly, streams != nil {
            throw ValidationError("--streams needs reassembly; drop --no-reassembly")
        }
    }

    func run() throws {
        if let pcap {
            let input: CaptureFilePort
            do { input = try CaptureFilePort(reading: pcap) } catch { throw AgentError("\(pcap): \(error)") }
            let output: CaptureFilePort?
            do {
                output = try outPcap.map { try CaptureFilePort(writing: $0, linkType: input.source?.linkType ?? .ethernet) }
            } catch {
                throw AgentError("\(error)")
            }
            try replay(input: input, output: output, stop: .endOfInput, helpers: nil)
            try output?.close()
            if let failure = output?.writeFailure { throw AgentError("\(outPcap!): \(failure)") }
            if let reader = input.source, reader.oversizedRecords > 0 {
                FileHandle.standardError.write(Data(("capture      \(reader.oversizedRecords) records over "
                    + "\(CaptureFileReader.maximumRecordLength) bytes skipped (the first at byte \(reader.firstOversizedOffset ?? 0))\n").utf8))
            }
            if let failure = input.failure {
                throw AgentError("\(pcap): \(failure) (the packets before it were processed)")
            }
            return
        }
        let (input, output, rss) = try ports.open()
        if ports.workers > 1 {
            try replayWorkers(input: input, output: output, rss: rss)
            return
        }
        // On DPDK, parallel NFs run on the EAL worker lcores (this worker is the main one).
        try replay(input: input, output: output, stop: .idle(milliseconds: idleStop), helpers: HelperLcores(free: Lcores.workers()))
        FileHandle.standardError.write(Data((input.reportLine + (output?.reportLine ?? "")).utf8))
    }

    /// One worker over any port: the loop until `stop`, then the flows' ends and the summary.
    private func replay<Port: PacketPort>(input: Port, output: Port?, stop: LoopStop, helpers: HelperLcores?) throws {
        let configuration = stack.dataPathConfiguration
        let pipeline = try chain.makePipeline(configuration, keepBothStreams: streams != nil, launcher: helpers?.launcher ?? .threads)
        FileHandle.standardError.write(Data((helpers?.report ?? "").utf8))
        let dataPath = pipeline?.dataPath ?? DataPath(configuration: configuration)
        let alerts = try chain.openEVE()
        let recorder = try streams.map { path -> StreamRecorder in
            do { return StreamRecorder(output: try OutputFile.open(path)) } catch { throw AgentError("\(error)") }
        }
        let agent = AgentRuntime(dataPath: dataPath, pipeline: pipeline, chainName: chain.chain ?? "", eve: alerts, control: nil)
        let reader = (input as? CaptureFilePort)?.source
        let progress = reader.map { ProgressLine(totalBytes: $0.totalBytes) }
        let started = Date()
        try PortLoop(input: input, output: output, stop: stop).run {
            ReplayWork(agent: agent.nextBurst(), recorder: recorder, dataPath: dataPath, progress: progress, reader: reader)
        }
        progress?.finish()
        try agent.finish(timestamp: input.clock)
        try recorder?.record(dataPath)
        try recorder?.flush()
        RunSummary(dataPath: dataPath, pipeline: pipeline, seconds: Date().timeIntervalSince(started), flowsWritten: recorder?.flowsWritten,
                   alertsWritten: alerts?.written).print()
    }
}

/// A replay's stages for one burst: the agent's, then the stream recorder.
struct ReplayWork: BurstWork {
    let agent: AgentRuntime.Burst
    let recorder: StreamRecorder?
    let dataPath: DataPath
    let progress: ProgressLine?
    let reader: CaptureFileReader?

    var outbox: FrameOutbox { dataPath.outbox }

    /// The stacks' timers, and the progress line (redrawn at most twice a second).
    func tick(now: UInt64) {
        agent.tick(now: now)
        if let progress, let reader { progress.update(packets: dataPath.counters.packets, offset: reader.offset) }
    }

    @inline(__always)
    func process(_ packet: CapturedPacket) throws -> Verdict {
        let verdict = try agent.process(packet)
        try recorder?.record(dataPath)
        return verdict
    }
}

extension Replay {
    /// A finite DPDK source through several workers.
    func replayWorkers(input: DPDKPort, output: DPDKPort?, rss: Bool) throws {
        let compiled = try chain.compile()!
        try ChainOptions.refuseSplicer(compiled)
        let eve = try chain.openEVE()
        let run = rss ? QueueWorkers.runAndReport : WorkerPool.runAndReport
        try run(ports.workers, input, output, .idle(milliseconds: idleStop), false) { launcher in
            try AgentRuntime.workers(ports.workers, compiled: compiled, configuration: stack.dataPathConfiguration,
                                     chainName: chain.chain ?? "", eve: eve, control: nil, launcher: launcher)
        }
    }
}

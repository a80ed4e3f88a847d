import ArgumentParser
import Foundation
import MBoxCapture
import MBoxChain
import MBoxDataPath
import MBoxDPDK
import MBoxEvents
import MBoxNF
import MBoxNFs
import MBoxTCP

/// `mbox-agent replay`: runs a capture file through the data path.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a pcap or pcapng file through the agent: data path, events, NF chain.",
        discussion: """
        With --rules or --chain, packets go on through the event source and an NF chain \
        (without --chain: the IDS chain, chains/ids.yaml — TCP Monitor with reassembly, DPI, \
        Signature_Match with dynamic subscriptions); --eve writes its alerts as Suricata EVE \
        JSON lines. With --streams, writes one JSON object per TCP flow per line: the client \
        (src) and server (dest) endpoints and both reassembled streams in base64. A summary \
        goes to stderr.
        """)

    @Option(help: "Capture file to read (pcap or pcapng).")
    var pcap: String?

    @Option(parsing: .unconditional,
            help: ArgumentHelp("Read from a DPDK port instead: EAL arguments, e.g. \"--no-huge -m 512 --no-pci --vdev=net_pcap0,rx_pcap=in.pcap\".",
                               valueName: "eal-arguments"))
    var dpdk: String?

    @Option(help: "DPDK port to read (device name, e.g. net_pcap0); the first one by default.")
    var port: String?

    @Option(help: "Inline mode: forward packets the chain lets through to this DPDK port (dropped ones are freed).")
    var outPort: String?

    @Option(help: "With --dpdk, stop after this many milliseconds without a packet.")
    var idleStop: Int = 500

    @Option(help: "Write each TCP flow's reassembled streams here as JSON lines.")
    var streams: String?

    @Option(help: "Suricata-style rules file for Signature_Match (overrides the chain's 'rules').")
    var rules: String?

    @Option(help: "Chain definition (YAML); without it, --rules runs the built-in IDS chain.")
    var chain: String?

    @Option(help: "Run the chain's NFs 'sequential' or 'parallel' (overrides the chain file).")
    var mode: String?

    @Option(help: "Write alerts here as Suricata EVE JSON lines.")
    var eve: String?

    @Option(help: "Overlapping segments with different bytes: 'first' (default) keeps the bytes received first, 'last' the latest.")
    var overlap: String = OverlapPolicy.first.rawValue

    @Option(help: "Most flows tracked at once.")
    var flowCapacity: Int = 262_144

    @Option(help: "Seconds (of capture time) after which an idle flow is expired.")
    var idleTimeout: Double = 120

    @Option(help: "Out-of-order bytes buffered per flow direction.")
    var reassemblyFlowLimit: Int = 256 * 1024

    @Option(help: "Out-of-order bytes buffered for all flows together.")
    var reassemblyGlobalLimit: Int = 256 * 1024 * 1024

    @Flag(help: "Track TCP state without reassembling streams.")
    var noReassembly = false

    func validate() throws {
        guard (pcap == nil) != (dpdk == nil) else {
            throw ValidationError("give exactly one source: --pcap FILE or --dpdk \"EAL arguments\"")
        }
        if outPort != nil || port != nil, dpdk == nil {
            throw ValidationError("--port and --out-port need --dpdk")
        }
        guard OverlapPolicy(rawValue: overlap) != nil else {
            throw ValidationError("--overlap must be 'first' or 'last', not '\(overlap)'")
        }
        guard flowCapacity > 0, flowCapacity <= 16_000_000 else {
            throw ValidationError("--flow-capacity must be between 1 and 16000000")
        }
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be positive") }
        guard reassemblyFlowLimit >= 2048, reassemblyGlobalLimit >= reassemblyFlowLimit else {
            throw ValidationError("reassembly limits must be at least 2048 bytes, the global one no less than the per-flow one")
        }
        if noReassembly, streams != nil {
            throw ValidationError("--streams needs reassembly; drop --no-reassembly")
        }
        if let mode, ChainDefinition.Mode(rawValue: mode) == nil {
            throw ValidationError("--mode must be 'sequential' or 'parallel', not '\(mode)'")
        }
        if (eve != nil || mode != nil), rules == nil, chain == nil {
            throw ValidationError("--eve and --mode need a chain: give --rules and/or --chain")
        }
    }

    func run() throws {
        var configuration = DataPathConfiguration()
        configuration.flowTable = .init(capacity: flowCapacity, idleTimeoutSeconds: idleTimeout)
        if noReassembly {
            configuration.reassembly = nil
        } else {
            var reassembly = ReassemblyConfiguration()
            reassembly.overlapPolicy = OverlapPolicy(rawValue: overlap)!
            reassembly.perDirectionLimit = reassemblyFlowLimit
            reassembly.globalLimit = reassemblyGlobalLimit
            configuration.reassembly = reassembly
        }
        let source = try openSource()
        let pipeline = try makePipeline(configuration)
        let dataPath = pipeline?.dataPath ?? DataPath(configuration: configuration)
        let alerts = try eve.map { path -> EVEWriter in
            do { return try EVEWriter(path: path) } catch { throw ReplayError("cannot write \(path)") }
        }
        let recorder = try streams.map { path -> StreamRecorder in
            guard FileManager.default.createFile(atPath: path, contents: nil),
                  let handle = FileHandle(forWritingAtPath: path) else {
                throw ReplayError("cannot write \(path)")
            }
            return StreamRecorder(output: handle)
        }

        let started = Date()
        var lastTimestamp: UInt64 = 0
        /// One packet through every stage; its verdict.
        func process(_ packet: CapturedPacket) throws -> Verdict {
            let verdict: Verdict
            if let pipeline {
                verdict = pipeline.process(packet)
                try write(alerts: pipeline.chain, to: alerts)
            } else {
                _ = dataPath.process(packet)
                verdict = .forward
            }
            lastTimestamp = packet.timestamp
            try recorder?.record(dataPath)
            return verdict
        }
        var sourceError: Error?
        switch source {
        case let .file(reader):
            let progress = ProgressLine(totalBytes: reader.totalBytes)
            while true {
                let packet: CapturedPacket?
                do {
                    packet = try reader.next()
                } catch {
                    sourceError = error
                    break
                }
                guard let packet else { break }
                _ = try process(packet)
                if dataPath.counters.packets & 0xFFFF == 0 {
                    progress.update(packets: dataPath.counters.packets, offset: reader.offset)
                }
            }
            progress.finish()
        case let .dpdk(input, output):
            try DPDKLoop(input: input, output: output, idleStop: idleStop).run(process)
            FileHandle.standardError.write(Data(DPDKLoop.describe(input, output).utf8))
        }
        if let pipeline {
            pipeline.finish(timestamp: lastTimestamp)
            try write(alerts: pipeline.chain, to: alerts)
        } else {
            dataPath.finishAll()
        }
        try recorder?.record(dataPath)
        try recorder?.flush()
        try alerts?.flush()
        let seconds = Date().timeIntervalSince(started)
        Summary(dataPath: dataPath, pipeline: pipeline, seconds: seconds, flowsWritten: recorder?.flowsWritten,
                alertsWritten: alerts?.written).print()
        if let sourceError {
            throw ReplayError("\(pcap ?? "input"): \(sourceError) (the packets before it were processed)")
        }
    }

    enum Source {
        case file(CaptureFileReader)
        case dpdk(DPDKPort, DPDKPort?)
    }

    func openSource() throws -> Source {
        if let pcap {
            do {
                return .file(try CaptureFileReader(path: pcap))
            } catch {
                throw ReplayError("\(pcap): \(error)")
            }
        }
        do {
            try EAL.start(dpdk!.split(separator: " ").map(String.init))
            let input = try DPDKPort(name: port)
            let output = try outPort.map { try DPDKPort(name: $0) }
            return .dpdk(input, output)
        } catch {
            throw ReplayError("\(error)")
        }
    }
}

extension Replay {
    /// The chain to run, when rules or a chain were given: parsed, checked, compiled.
    func makePipeline(_ configuration: DataPathConfiguration) throws -> Pipeline? {
        guard rules != nil || chain != nil else { return nil }
        var definition: ChainDefinition
        do {
            definition = try chain.map { try ChainParser().parse(file: $0) }
                ?? ChainParser().parse(DefaultChain.yaml, file: DefaultChain.file)
            if let mode { definition.mode = ChainDefinition.Mode(rawValue: mode)! }
        } catch {
            throw ReplayError("\(error)")
        }
        if let rules, !FileManager.default.isReadableFile(atPath: rules) {
            throw ReplayError("cannot read rules file \(rules)")
        }
        let resources = BuildResources(rulesOverride: rules)
        let compiled: CompiledChain
        do {
            compiled = try ChainCompiler().compile(definition, resources: resources)
        } catch {
            throw ReplayError("\(error)")
        }
        for (path, engine) in resources.loadedEngines {
            var line = "rules        \(path): \(engine.rules.count) loaded"
            if !engine.problems.isEmpty { line += ", \(engine.problems.count) not loaded:" }
            FileHandle.standardError.write(Data((line + "\n").utf8))
            for problem in engine.problems {
                FileHandle.standardError.write(Data("  \(problem)\n".utf8))
            }
        }
        return try compiled.makePipeline(configuration: configuration, keepBothStreams: streams != nil)
    }

    /// Writes the alerts of the last packet as EVE lines.
    func write(alerts chain: ChainRunner, to writer: EVEWriter?) throws {
        guard let writer, !chain.alerts.isEmpty else { return }
        for alert in chain.alerts {
            guard let matcher = chain.members[Int(alert.publisher)].function as? SignatureMatch else { continue }
            try writer.write(alert: alert, rule: matcher.engine.rules[Int(alert.detail.index)], key: chain.flowKey(of: alert))
        }
    }
}

/// A failure while running (not a usage mistake): printed as is, exit status 1.
struct ReplayError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

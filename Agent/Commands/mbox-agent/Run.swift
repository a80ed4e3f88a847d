import ArgumentParser
import Foundation
import MBoxCapture
import MBoxDataPath
import MBoxDPDK
import MBoxNF

extension Run {
    /// Several workers: each a pipeline of its own, packets spread by flow.
    func runWorkers(input: DPDKPort, output: DPDKPort?) throws {
        let compiled = try chain.compile()!
        let alerts = try chain.openEVE()
        DPDKLoop.stopOnSignals()
        FileHandle.standardError.write(Data("running on \(input.name)\(output.map { " -> \($0.name)" } ?? " (passive)") with \(ports.workers) workers; SIGINT or SIGTERM stops\n".utf8))
        try WorkerPool.runAndReport(compiled, count: ports.workers, configuration: stack.dataPathConfiguration,
                                    alerts: alerts, input: input, output: output, stop: .after(seconds: duration))
    }
}

/// `mbox-agent run`: the long-running agent on DPDK ports (the control plane will attach
/// to it), until SIGINT/SIGTERM or --duration.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the agent on DPDK ports until SIGINT/SIGTERM: passive, or inline with --out-port.")

    @Option(help: "Stop after this many seconds (0: run until SIGINT/SIGTERM).")
    var duration: Double = 0

    @OptionGroup var ports: DPDKOptions
    @OptionGroup var chain: ChainOptions
    @OptionGroup var stack: StackOptions

    func validate() throws {
        guard ports.dpdk != nil else {
            throw ValidationError("run needs --dpdk \"EAL arguments\" (replay --pcap reads files)")
        }
        guard duration >= 0 else { throw ValidationError("--duration must not be negative") }
        guard (1...64).contains(ports.workers) else { throw ValidationError("--workers must be 1–64") }
        if ports.workers > 1, !chain.wanted { throw ValidationError("--workers needs a chain: give --rules and/or --chain") }
    }

    func run() throws {
        let (input, output) = try ports.open()
        if ports.workers > 1 {
            try runWorkers(input: input, output: output)
            return
        }
        let configuration = stack.dataPathConfiguration
        let pipeline = try chain.makePipeline(configuration, keepBothStreams: false)
        let dataPath = pipeline?.dataPath ?? DataPath(configuration: configuration)
        let alerts = try chain.openEVE()
        DPDKLoop.stopOnSignals()
        FileHandle.standardError.write(Data("running on \(input.name)\(output.map { " -> \($0.name)" } ?? " (passive)"); SIGINT or SIGTERM stops\n".utf8))
        let started = Date()
        try DPDKLoop(input: input, output: output, stop: .after(seconds: duration)).run { packet in
            if let pipeline {
                let verdict = pipeline.process(packet)
                try write(alerts: pipeline.chain, to: alerts)
                return verdict
            }
            _ = dataPath.process(packet)
            return .forward
        }
        if let pipeline {
            pipeline.finish(timestamp: DispatchTime.now().uptimeNanoseconds)
            try write(alerts: pipeline.chain, to: alerts)
        } else {
            dataPath.finishAll()
        }
        try alerts?.flush()
        FileHandle.standardError.write(Data(DPDKLoop.describe(input, output).utf8))
        Summary(dataPath: dataPath, pipeline: pipeline, seconds: Date().timeIntervalSince(started), flowsWritten: nil,
                alertsWritten: alerts?.written).print()
    }
}

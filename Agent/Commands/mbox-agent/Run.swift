import ArgumentParser
import Foundation
import MBoxAgentControl
import MBoxCapture
import MBoxDataPath
import MBoxDPDK
import MBoxNF

/// `mbox-agent run`: the long-running agent on DPDK ports (or a capture file on machines
/// without DPDK), alone or under a controller, until SIGINT/SIGTERM or --duration.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the agent until SIGINT/SIGTERM: on DPDK ports (passive, or inline with --out-port) or a capture file; alone or under a controller.",
        discussion: """
        With --controller the agent registers (its certificate's common name is its identity), \
        runs the chain the controller places on it (swapped in between packets, flow state kept), \
        and streams alerts through a durable spool in --state-dir. With --pcap the file is read \
        once and the agent then stays up (for its controller) until stopped.
        """)

    @Option(help: "Stop after this many seconds (0: run until SIGINT/SIGTERM).")
    var duration: Double = 0

    @Option(help: "Read packets from this capture file instead of DPDK ports.")
    var pcap: String?

    @OptionGroup var ports: DPDKOptions
    @OptionGroup var chain: ChainOptions
    @OptionGroup var stack: StackOptions
    @OptionGroup var control: ControlOptions

    func validate() throws {
        guard (ports.dpdk == nil) != (pcap == nil) else {
            throw ValidationError("give exactly one source: --dpdk \"EAL arguments\" or --pcap FILE")
        }
        if pcap != nil, ports.port != nil || ports.outPort != nil { throw ValidationError("--port and --out-port need --dpdk") }
        guard duration >= 0 else { throw ValidationError("--duration must not be negative") }
        guard (1...64).contains(ports.workers) else { throw ValidationError("--workers must be 1–64") }
        if ports.workers > 1, !chain.wanted { throw ValidationError("--workers needs a chain: give --rules and/or --chain") }
        if ports.workers > 1, control.wanted { throw ValidationError("--controller runs one worker so far; drop --workers") }
    }

    func run() throws {
        if ports.workers > 1 {
            let (input, output, rss) = try ports.open()
            try runWorkers(input: input, output: output, rss: rss)
            return
        }
        let session = try control.makeSession(capabilities: capabilities)
        let configuration = stack.dataPathConfiguration
        let compiled = try chain.compile()
        var reader: CaptureFileReader?
        var dpdk: (DPDKPort, DPDKPort?)?
        if let pcap {
            do { reader = try CaptureFileReader(path: pcap) } catch { throw AgentError("\(pcap): \(error)") }
        } else {
            let (input, output, _) = try ports.open()
            dpdk = (input, output)
        }
        // On DPDK, parallel NFs run on the EAL worker lcores (this worker is the main one).
        let helpers = dpdk == nil ? nil : HelperLcores(free: Lcores.workers())
        let launcher = helpers?.launcher ?? .threads
        let pipeline = try compiled?.makePipeline(configuration: configuration, keepBothStreams: session != nil, launcher: launcher)
        let agent = AgentRuntime(dataPath: pipeline?.dataPath ?? DataPath(configuration: configuration), pipeline: pipeline,
                                 chainName: chain.chain ?? (chain.wanted ? "ids" : ""), eve: try chain.openEVE(), session: session,
                                 launcher: launcher)
        FileHandle.standardError.write(Data((helpers?.report ?? "").utf8))
        DPDKLoop.stopOnSignals()
        let sessionTask = session.map { session in
            _ = session.restoreLastGoodConfig()
            return Task.detached { await session.run() }
        }
        let where_ = pcap ?? "\(dpdk!.0.name)\(dpdk!.1.map { " -> \($0.name)" } ?? " (passive)")"
        FileHandle.standardError.write(Data("running on \(where_)\(session.map { "; controller \($0.settings.controller) as '\($0.name)'" } ?? ""); SIGINT or SIGTERM stops\n".utf8))

        let started = DispatchTime.now().uptimeNanoseconds
        let stop = DPDKLoop.Stop.after(seconds: duration)
        if control.waitForConfig { waitForConfig(agent, stop: stop, started: started) }
        var lastTimestamp: UInt64 = 0
        if let reader {
            lastTimestamp = try replay(reader, through: agent, stop: stop, started: started)
            idle(agent, stop: stop, started: started)
        } else if let (input, output) = dpdk {
            try DPDKLoop(input: input, output: output, stop: stop).run(agent.nextBurst)
        }
        try agent.finish(timestamp: reader == nil ? DPDKLoop.wallClock() : lastTimestamp)
        if let session, let sessionTask {
            drain(session)
            sessionTask.cancel()
        }
        if let (input, output) = dpdk { FileHandle.standardError.write(Data(DPDKLoop.describe(input, output).utf8)) }
        Summary(dataPath: agent.dataPath, pipeline: agent.pipeline, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9,
                flowsWritten: nil, alertsWritten: agent.eve?.written).print()
        if let session { FileHandle.standardError.write(Data("spool        \(session.spool.pendingCount) alerts not yet at the controller, \(session.spool.refused) refused (spool full)\n".utf8)) }
    }

    var capabilities: [String] {
        var list = ["hyperscan", "tcp_monitor", "l2l3"]
        if EAL.isAvailable { list.append("dpdk") }
        return list
    }

    private func stopped(_ stop: DPDKLoop.Stop, started: UInt64) -> Bool {
        if stopRequested != 0 { return true }
        if case let .after(seconds) = stop, seconds > 0 { return Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 > seconds }
        return false
    }

    private func waitForConfig(_ agent: AgentRuntime, stop: DPDKLoop.Stop, started: UInt64) {
        FileHandle.standardError.write(Data("waiting for a config from the controller before reading packets\n".utf8))
        while !agent.hasConfig, !stopped(stop, started: started) {
            agent.betweenBursts()
            usleep(2000)
        }
    }

    /// The file once, in bursts of 32 with the between-burst work in between; returns the last packet time.
    private func replay(_ reader: CaptureFileReader, through agent: AgentRuntime, stop: DPDKLoop.Stop, started: UInt64) throws -> UInt64 {
        var last: UInt64 = 0
        while !stopped(stop, started: started) {
            let burst = agent.nextBurst()
            for _ in 0..<32 {
                let packet: CapturedPacket?
                do { packet = try reader.next() } catch { throw AgentError("\(pcap!): \(error)") }
                guard let packet else {
                    FileHandle.standardError.write(Data("end of \(pcap!); staying up until stopped\n".utf8))
                    return last
                }
                _ = try burst.process(packet)
                last = packet.timestamp
            }
        }
        return last
    }

    private func idle(_ agent: AgentRuntime, stop: DPDKLoop.Stop, started: UInt64) {
        while !stopped(stop, started: started) {
            agent.betweenBursts()
            usleep(1000)
        }
    }

    /// Gives the session a moment to deliver what is spooled (it stays on disk otherwise).
    private func drain(_ session: ControlSession) {
        let deadline = Date().addingTimeInterval(control.drainSeconds)
        while session.spool.pendingCount > 0, session.isConnected, Date() < deadline { usleep(10_000) }
    }
}

extension Run {
    /// Several workers: each a pipeline of its own, packets spread by flow.
    func runWorkers(input: DPDKPort, output: DPDKPort?, rss: Bool) throws {
        let compiled = try chain.compile()!
        let alerts = try chain.openEVE()
        DPDKLoop.stopOnSignals()
        FileHandle.standardError.write(Data("running on \(input.name)\(output.map { " -> \($0.name)" } ?? " (passive)") with \(ports.workers) workers (\(rss ? "one RSS queue pair each" : "software distributor")); SIGINT or SIGTERM stops\n".utf8))
        if rss {
            try QueueWorkers.runAndReport(compiled, count: ports.workers, configuration: stack.dataPathConfiguration,
                                          alerts: alerts, input: input, output: output, stop: .after(seconds: duration))
        } else {
            try WorkerPool.runAndReport(compiled, count: ports.workers, configuration: stack.dataPathConfiguration,
                                        alerts: alerts, input: input, output: output, stop: .after(seconds: duration))
        }
    }
}

extension AgentRuntime.Burst: BurstWork {}

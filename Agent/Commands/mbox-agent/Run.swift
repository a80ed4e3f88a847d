import ArgumentParser
import Foundation
import MBoxAgentControl
import MBoxCapture
import MBoxChain
import MBoxControlPlane
import MBoxDataPath
import MBoxDPDK
import MBoxNFRunner
import MBoxTransmit
import MBoxNFs
import MBoxRuntime

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

    @Option(help: "Agent settings file (YAML), keyed by these options' long names; options on the command line override it.")
    var config: String?

    @Option(help: "Stop after this many seconds (0: run until SIGINT/SIGTERM).")
    var duration: Double = 0

    @Option(help: "Read packets from this capture file instead of DPDK ports.")
    var pcap: String?

    @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics (port 0 picks one): packets, flows, alerts and drops per worker, each DPDK port's device counters (missed packets among them). Plain HTTP: keep it on loopback or a management network.")
    var metrics: String?

    @OptionGroup var ports: DPDKOptions
    @OptionGroup var chain: ChainOptions
    @OptionGroup var stack: StackOptions
    @OptionGroup var control: ControlOptions

    func validate() throws {
        // With a settings file, the merged options are checked once the file is read.
        guard config == nil else { return }
        guard (ports.dpdk == nil) != (pcap == nil) else {
            throw ValidationError("give exactly one source: --dpdk \"EAL arguments\" or --pcap FILE")
        }
        if pcap != nil, ports.port != nil || ports.outPort != nil { throw ValidationError("--port and --out-port need --dpdk") }
        guard duration >= 0 else { throw ValidationError("--duration must not be negative") }
        guard (1...64).contains(ports.workers) else { throw ValidationError("--workers must be 1–64") }
        if ports.workers > 1, pcap != nil { throw ValidationError("--workers needs --dpdk") }
        if ports.workers > 1, !chain.wanted, !control.wanted {
            throw ValidationError("--workers needs a chain: give --rules and/or --chain, or --controller")
        }
        if let metrics { do { _ = try ControlEndpoint(parsing: metrics) } catch { throw ValidationError("--metrics: \(error)") } }
    }

    func run() throws {
        if let config {
            try Self.withSettings(from: config).run()
            return
        }
        // Ports first: the session reports what they lose.
        var file: CaptureFilePort?
        var opened: (input: DPDKPort, output: DPDKPort?, rss: Bool)?
        if let pcap {
            do { file = try CaptureFilePort(reading: pcap) } catch { throw AgentError("\(pcap): \(error)") }
        } else {
            opened = try ports.open()
        }
        let portList = opened.map { [$0.input] + ($0.output.map { [$0] } ?? []) } ?? []
        let counters = AgentCounters(workers: ports.workers, devices: portList.isEmpty ? nil : Self.losses(of: portList))
        let session = try control.makeSession(capabilities: capabilities, counters: counters)
        let compiled = try chain.compile()
        if compiled?.definition.usesSplicer == true {
            // The splicer answers clients and rewrites packets in place: live ports only, and
            // both legs of a connection must meet one worker (their 5-tuples differ).
            if pcap != nil { throw AgentError("the chain's TCP Splicer answers live clients: run it on DPDK ports (--dpdk), not --pcap") }
            if ports.workers > 1 { throw AgentError("the TCP Splicer runs on one worker for now (a connection's two legs hash apart); drop --workers") }
        }
        let eve = try chain.openEVE()
        let exporter = try serveMetrics(counters, ports: portList, session: session)
        defer { exporter?.closeNow() }
        if ports.workers > 1, let opened {
            try runWorkers(input: opened.input, output: opened.output, rss: opened.rss, compiled: compiled, eve: eve, session: session,
                           counters: counters)
            return
        }
        let dpdk = opened.map { ($0.input, $0.output) }
        // On DPDK, parallel NFs run on the EAL worker lcores (this worker is the main one).
        let helpers = dpdk == nil ? nil : HelperLcores(free: Lcores.workers())
        let agent = try makeRuntimes(1, compiled: compiled, eve: eve, session: session, launcher: helpers?.launcher ?? .threads,
                                     counters: counters)[0]
        FileHandle.standardError.write(Data((helpers?.report ?? "").utf8))
        StopSignal.installHandlers()
        let sessionTask = start(session)
        let where_ = pcap ?? "\(dpdk!.0.name)\(dpdk!.1.map { " -> \($0.name)" } ?? " (passive)")"
        announce(where_, session)

        let started = DispatchTime.now().uptimeNanoseconds
        let stop = LoopStop.after(seconds: duration)
        if control.waitForConfig { agent.waitUntilConfigured(stop: stop, started: started) }
        var lastTimestamp: UInt64 = 0
        if let file {
            // The file once, then up (adopting pushed configs) until stopped.
            var untilEnd = stop
            untilEnd.atEndOfInput = true
            try PortLoop(input: file, stop: untilEnd, started: started).run(agent.nextBurst)
            if let failure = file.failure { throw AgentError("\(pcap!): \(failure)") }
            if !StopSignal.reached(stop, started: started) {
                FileHandle.standardError.write(Data("end of \(pcap!); staying up until stopped\n".utf8))
            }
            lastTimestamp = file.clock
            try PortLoop(input: file, stop: stop, started: started).run(agent.nextBurst)
        } else if let (input, output) = dpdk {
            let busy = try PortLoop(input: input, output: output, stop: stop, started: started).run(agent.nextBurst)
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            FileHandle.standardError.write(Data(String(format: "busy         %.3f s of %.3f s on rounds with packets (the rest polled empty ports)\n",
                                                       Double(busy) / 1e9, elapsed).utf8))
            lastTimestamp = wallClock()
        }
        try agent.finish(timestamp: lastTimestamp)
        end(session, sessionTask)
        if let (input, output) = dpdk { FileHandle.standardError.write(Data((input.reportLine + (output?.reportLine ?? "")).utf8)) }
        RunSummary(dataPath: agent.dataPath, pipeline: agent.pipeline, seconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9,
                   flowsWritten: nil, alertsWritten: agent.eve?.written).print()
        report(session)
    }

    /// One runtime per worker: its own data path and chain instance (the local chain, if
    /// any: under a controller the pushed one replaces it); the session, EVE file and
    /// helper launcher shared.
    private func makeRuntimes(_ count: Int, compiled: CompiledChain?, eve: EVEWriter?, session: ControlSession?,
                              launcher: HelperLauncher, counters: AgentCounters) throws -> [AgentRuntime] {
        // Workers publish their totals only when someone reads them (the session does too).
        try AgentRuntime.workers(count, compiled: compiled, configuration: stack.dataPathConfiguration,
                                 chainName: chain.chain ?? (chain.wanted ? "ids" : ""), eve: eve, control: session.map { session in session.worker },
                                 launcher: launcher, counters: metrics != nil ? counters : nil)
    }

    /// What `ports` dropped before the agent read it, summed: the devices' own counters.
    private static func losses(of ports: [DPDKPort]) -> @Sendable () -> (missed: UInt64, noMbuf: UInt64) {
        let ids = ports.map(\.id)
        return {
            ids.compactMap { DPDKPort.deviceCounters(port: $0) }.reduce((missed: 0, noMbuf: 0)) { ($0.missed + $1.rxMissed, $0.noMbuf + $1.rxNoMbuf) }
        }
    }

    /// With --metrics: the endpoint, serving until closed.
    private func serveMetrics(_ counters: AgentCounters, ports: [DPDKPort], session: ControlSession?) throws -> MetricsServer? {
        guard let metrics else { return nil }
        let address = try ControlEndpoint(parsing: metrics)
        let exported = AgentMetrics(counters: counters, ports: ports.map { AgentMetrics.Port(id: $0.id, name: $0.name, lanes: $0.laneCounters) }, session: session)
        let server: MetricsServer
        do {
            server = try MetricsServer(bindingNow: address.host, port: address.port) { exported.render() }
        } catch {
            throw AgentError("cannot serve metrics on \(address): \(error)")
        }
        MBoxLogging.logger("mbox.agent").info("metrics at http://\(ControlEndpoint(host: address.host, port: server.port))/metrics")
        return server
    }

    /// The session's task: the last good config restored first (the data path adopts it
    /// before the controller answers), then register, watch, stream.
    private func start(_ session: ControlSession?) -> Task<Void, Never>? {
        session.map { session in
            _ = session.restoreLastGoodConfig()
            return Task.detached { await session.run() }
        }
    }

    private func announce(_ source: String, _ session: ControlSession?) {
        let controller = session.map { "; controller \($0.settings.controllers.map(\.description).joined(separator: ",")) as '\($0.name)'" } ?? ""
        let log = MBoxLogging.logger("mbox.agent")
        log.info("mbox-agent \(MBoxVersion.release) running on \(source)\(controller); SIGINT or SIGTERM stops")
        if control.waitForConfig { log.info("waiting for a config from the controller before reading packets") }
    }

    /// Gives the session a moment to deliver what is spooled (it stays on disk otherwise), then ends it.
    private func end(_ session: ControlSession?, _ task: Task<Void, Never>?) {
        guard let session, let task else { return }
        let deadline = Date().addingTimeInterval(control.drainSeconds)
        while session.spool.pendingCount > 0, session.isConnected, Date() < deadline { usleep(10_000) }
        task.cancel()
    }

    private func report(_ session: ControlSession?) {
        guard let session else { return }
        FileHandle.standardError.write(Data("spool        \(session.spool.pendingCount) alerts not yet at the controller, \(session.spool.refused) refused (spool full), \(session.alerts.overflowed) refused (writer behind)\n".utf8))
    }

    /// This command as the settings file and then the command line give it.
    static func withSettings(from path: String) throws -> Run {
        let fromFile: [String]
        do { fromFile = try AgentConfigFile.arguments(from: path) } catch { throw AgentError("\(error)") }
        do {
            // Parsing validates; the arguments carry no --config, so the merged options are checked.
            return try Run.parse(fromFile + AgentConfigFile.commandLine(after: "run"))
        } catch {
            throw AgentError("\(path) with the command line: \(Run.message(for: error))")
        }
    }

    var capabilities: [String] {
        var list = ["hyperscan", "tcp_monitor", "l2l3"]
        if EAL.isAvailable { list.append("dpdk") }
        return list
    }
}

extension Run {
    /// Several workers: each with its own data path and chain, packets spread by flow
    /// (RSS queues, or the software distributor); under a controller, each adopts pushed
    /// configs and the session reports their sum.
    func runWorkers(input: DPDKPort, output: DPDKPort?, rss: Bool, compiled: CompiledChain?, eve: EVEWriter?,
                    session: ControlSession?, counters: AgentCounters) throws {
        StopSignal.installHandlers()
        let sessionTask = start(session)
        announce("\(input.name)\(output.map { " -> \($0.name)" } ?? " (passive)") with \(ports.workers) workers (\(rss ? "one RSS queue pair each" : "software distributor"))", session)
        // Busy-polling threads that share a core slow each other down rather than add up.
        let busy = ports.workers + (rss ? 0 : 1)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        if busy > cores {
            FileHandle.standardError.write(Data("""
                warning      \(busy) busy-polling threads (\(ports.workers) workers\(rss ? "" : " and the distributing port thread")) \
                on \(cores) cores: they share cores and the agent is likely slower than with fewer workers

                """.utf8))
        }
        let run = rss ? QueueWorkers.runAndReport : WorkerPool.runAndReport
        try run(ports.workers, input, output, .after(seconds: duration), control.waitForConfig) { launcher in
            try makeRuntimes(ports.workers, compiled: compiled, eve: eve, session: session, launcher: launcher, counters: counters)
        }
        end(session, sessionTask)
        report(session)
    }
}

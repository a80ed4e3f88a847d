import Foundation
import MBoxConcurrency
import MBoxCapture
import MBoxChain
import MBoxDataPath
import MBoxNFRunner
import MBoxNFs
import MBoxTransmit

/// What a worker's runtime takes from the agent's control session: pushed configs, a ring
/// for its alerts, where to publish its totals, and how to see its alerts stored at the
/// end. The session makes one per worker; the runtime knows nothing of gRPC.
public struct WorkerControl {
    public var slot: ConfigSlot
    /// This worker's ring to the alert writer (it pushes only).
    public var alerts: SPSCRing<AlertRecord>?
    public var counters: AgentCounters
    /// Returns once what the worker pushed is stored (end of input).
    public var flush: @Sendable () -> Void

    public init(slot: ConfigSlot, alerts: SPSCRing<AlertRecord>?, counters: AgentCounters, flush: @escaping @Sendable () -> Void) {
        self.slot = slot
        self.alerts = alerts
        self.counters = counters
        self.flush = flush
    }
}

/// One worker's packet stages and what changes them: the data path, the chain (swapped
/// between bursts when the controller pushes a config, flow state kept), and where alerts
/// go (EVE file, controller spool). Several workers each have a runtime of their own and
/// share the control session, the EVE file (each through a channel of its own) and the spool.
public final class AgentRuntime {
    public let dataPath: DataPath
    public private(set) var pipeline: Pipeline?
    public let eve: EVEWriter?
    public let control: WorkerControl?
    /// This worker's index (for its counters) and its side of the session's config slot.
    public let worker: Int
    private let config: ConfigSlot.Reader?
    /// This worker's way into the EVE file (handed to its writer thread between bursts).
    private let eveChannel: EVEChannel?
    /// This worker's way to the spool (pushes only; the session's writer thread writes).
    private let alertRing: SPSCRing<AlertRecord>?
    /// EVE `anomaly` records are written (checked per packet, so kept here as a constant).
    let logsAnomalies: Bool
    private var chainName: String
    /// Where pushed chains start their helpers.
    private let launcher: HelperLauncher
    private var configVersion: UInt64 = 0
    private var alertCount: UInt64 = 0
    /// Where this worker's totals are published between bursts (for the controller's
    /// reports and the metrics endpoint); nil: nobody reads them.
    private let counters: AgentCounters?
    /// Malformed packets as last published by reason (they are published when it changes).
    private var publishedMalformed: UInt64 = 0

    /// `counters`: where to publish this worker's totals (by default the session's).
    public init(dataPath: DataPath, pipeline: Pipeline?, chainName: String, eve: EVEWriter?, control: WorkerControl?,
                worker: Int = 0, launcher: HelperLauncher = .threads,
                counters: AgentCounters? = nil) {
        self.dataPath = dataPath
        self.launcher = launcher
        self.pipeline = pipeline
        self.chainName = chainName
        self.eve = eve
        self.control = control
        self.worker = worker
        eveChannel = eve?.channel()
        logsAnomalies = eve?.logsAnomalies ?? false
        alertRing = control?.alerts
        let data = dataPath.configuration
        config = control?.slot.makeReader { [launcher] chain in try chain.prepareStages(for: data, launcher: launcher) }
        self.counters = counters ?? control?.counters
    }

    /// The stages for the next burst of packets, after the between-burst work (a pushed
    /// config adopted, counters published). Hold it for one burst only.
    @inline(__always)
    public func nextBurst() -> Burst {
        betweenBursts()
        return Burst(runtime: self, pipeline: pipeline)
    }

    /// The stages of one burst: constants, so the per-packet path does no reference counting.
    public struct Burst {
        let runtime: AgentRuntime
        /// Keeps the pipeline alive while the burst is held...
        let pipeline: Pipeline?
        /// ...so the packet path can use it unretained (a retain and release per packet otherwise).
        let unretained: Unmanaged<Pipeline>?

        init(runtime: AgentRuntime, pipeline: Pipeline?) {
            self.runtime = runtime
            self.pipeline = pipeline
            unretained = pipeline.map(Unmanaged.passUnretained)
        }

        /// Frames the stages emitted for the packet just processed, for the port to send.
        public var outbox: FrameOutbox { runtime.dataPath.outbox }

        /// Runs the stacks' timers (frames they send land in `outbox`).
        public func tick(now: UInt64) { runtime.dataPath.tick(now: now) }

        /// One packet through every stage; its verdict.
        @inline(__always)
        public func process(_ packet: CapturedPacket) throws -> Verdict {
            guard let unretained else {
                _ = runtime.dataPath.process(packet)
                return .forward
            }
            return unretained._withUnsafeGuaranteedRef { pipeline in
                let verdict = pipeline.process(packet)
                if !pipeline.chain.alerts.isEmpty { runtime.emitAlerts(pipeline.chain) }
                if runtime.logsAnomalies, runtime.dataPath.lastPacketHasAnomalies { runtime.emitAnomalies(packet.timestamp) }
                return verdict
            }
        }
    }

    /// Between bursts: adopt a pushed config, publish counters.
    @inline(__always)
    public func betweenBursts() {
        if let config, let update = config.take() { adopt(update, config) }
        eveChannel?.submit()
        publishCounters()
    }

    @inline(__always)
    private func publishCounters() {
        guard let counters else { return }
        let c = dataPath.counters
        let malformed = c.malformed.total
        if malformed != publishedMalformed {
            counters.publish(worker: worker, malformed: c.malformed)
            publishedMalformed = malformed
        }
        counters.publish(worker: worker, packets: c.packets, bytes: c.bytes, flows: dataPath.flows.counters.created, alerts: alertCount,
                                 dropped: pipeline?.dropped ?? 0, malformed: malformed)
    }

    /// Whether a config from the controller (or the saved last good one) runs.
    public var hasConfig: Bool { (control?.slot.applied ?? 0) != 0 }

    private func adopt(_ update: ConfigSlot.Update, _ config: ConfigSlot.Reader) {
        do {
            if let chain = update.chain {
                // Built off this thread when the session posted the update; here only swapped in.
                let stages = try config.preparedStages(for: update.version)?.get()
                    ?? chain.prepareStages(for: dataPath.configuration, launcher: launcher)
                stages.attach(to: dataPath)
                pipeline = pipeline?.replacingChain(source: stages.source, chain: stages.runner)
                    ?? Pipeline(dataPath: dataPath, source: stages.source, chain: stages.runner)
            } else {
                pipeline?.chain.finish()
                pipeline = nil
            }
            chainName = update.chainName
            configVersion = update.version
            config.report(update.version, error: nil)
        } catch {
            config.report(update.version, error: "\(error)")
        }
    }

    func emitAnomalies(_ timestamp: UInt64) {
        eveChannel?.writeAnomalies(of: dataPath, timestamp: timestamp)
    }

    func emitAlerts(_ chain: ChainRunner) {
        chain.forEachAlert { alert, rule, key, transaction in
            alertCount += 1
            eveChannel?.write(alert: alert, rule: rule, key: key, transaction: transaction, tunnel: dataPath.tunnel(ofFlow: alert.flowID))
            alertRing?.push(AlertRecord(alert: alert, rule: rule, key: key, chain: chainName, configVersion: configVersion))
        }
    }

    /// End of input: flows end, NFs finish, alerts flushed.
    public func finish(timestamp: UInt64) throws {
        if let pipeline {
            pipeline.finish(timestamp: timestamp)
            if !pipeline.chain.alerts.isEmpty { emitAlerts(pipeline.chain) }
        } else {
            dataPath.finishAll()
        }
        try eveChannel?.flush()
        control?.flush()
        publishCounters()
    }
}

extension AgentRuntime {
    /// One runtime per worker: its own data path and, with `compiled`, chain instance (under
    /// a controller the pushed chain replaces it, and both streams are kept); the session
    /// (through `control`, one per worker), EVE file and helper launcher shared.
    public static func workers(_ count: Int, compiled: CompiledChain?, configuration: DataPathConfiguration, chainName: String,
                               eve: EVEWriter?, control: ((Int) -> WorkerControl)?, launcher: HelperLauncher,
                               counters: AgentCounters? = nil) throws -> [AgentRuntime] {
        return try (0..<count).map { worker in
            let pipeline = try compiled?.makePipeline(configuration: configuration, keepBothStreams: control != nil, launcher: launcher)
            return AgentRuntime(dataPath: pipeline?.dataPath ?? DataPath(configuration: configuration), pipeline: pipeline,
                                chainName: chainName, eve: eve, control: control?(worker), worker: worker, launcher: launcher,
                                counters: counters)
        }
    }

    /// Returns once every worker runs a config from the controller (or the saved last
    /// good one), or the run is to stop. `takingConfig`: this runtime adopts it itself,
    /// from this thread (false when its worker thread does).
    public func waitUntilConfigured(stop: LoopStop, started: UInt64, takingConfig: Bool = true) {
        while !hasConfig, !StopSignal.reached(stop, started: started) {
            if takingConfig { betweenBursts() }
            usleep(2000)
        }
    }
}

extension AgentRuntime.Burst: BurstWork {}

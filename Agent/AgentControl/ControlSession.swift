import Atomics
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import MBoxChain
import MBoxControlPlane
import MBoxPacket
import MBoxProto
import MBoxRuntime
import SwiftProtobuf
import X509

/// The agent's side of the control plane: registers with the controller, applies each
/// pushed config through the `ConfigSlot` (and reports the outcome), streams the spooled
/// alerts, reports counters. Reconnects with backoff; meanwhile the data path keeps its
/// last good config, and alerts wait in the spool.
public final class ControlSession: Sendable {
    public struct Settings: Sendable {
        /// Controller replicas; the session uses one at a time and moves to the next when
        /// it fails.
        public var controllers: [ControlEndpoint]
        public var tls: TLSFiles
        public var labels: [String: String] = [:]
        public var capabilities: [String] = []
        /// Holds the last good config (`config.pb`), applied at start before the controller answers.
        public var stateDirectory: String
        public var statsInterval: Duration = .seconds(2)
        public var softwareVersion = MBoxVersion.release

        public init(controller: ControlEndpoint, tls: TLSFiles, stateDirectory: String) {
            self.init(controllers: [controller], tls: tls, stateDirectory: stateDirectory)
        }

        public init(controllers: [ControlEndpoint], tls: TLSFiles, stateDirectory: String) {
            precondition(!controllers.isEmpty, "a session needs a controller")
            self.controllers = controllers
            self.tls = tls
            self.stateDirectory = stateDirectory
        }
    }

    /// The agent's name: its certificate's common name.
    public let name: String
    public let settings: Settings
    public let spool: AlertSpool
    /// Where the data paths hand their alerts (one ring per worker, one writer thread).
    public let alerts: AlertWriter
    public let slot: ConfigSlot
    public let counters: AgentCounters
    let log: @Sendable (String) -> Void
    private let connectedFlag = ManagedAtomic<Bool>(false)
    /// Index in `settings.controllers` of the one in use (or tried next).
    private let currentIndex = ManagedAtomic<Int>(0)

    public init(settings: Settings, spool: AlertSpool, slot: ConfigSlot, counters: AgentCounters,
                log: @escaping @Sendable (String) -> Void) throws {
        try settings.tls.check()
        let pem = try String(contentsOfFile: settings.tls.certificate, encoding: .utf8)
        let identity = try PeerIdentity(certificate: Certificate(pemEncoded: pem))
        guard identity.role == .agent else {
            throw PKIError("\(settings.tls.certificate) is a \(identity.role.rawValue) certificate; the agent needs an agent certificate")
        }
        name = identity.name
        self.settings = settings
        self.spool = spool
        alerts = AlertWriter(spool: spool, workers: counters.workerCount)
        self.slot = slot
        self.counters = counters
        self.log = log
        try FileManager.default.createDirectory(atPath: settings.stateDirectory, withIntermediateDirectories: true)
    }

    /// Worker `index`'s side of the session: the config slot, its alert ring, the counters.
    public func worker(_ index: Int) -> WorkerControl {
        WorkerControl(slot: slot, alerts: alerts.ring(index), counters: counters) { [alerts, spool] in
            alerts.flush()
            spool.sync()
        }
    }

    /// Whether a session with the controller is up now.
    public var isConnected: Bool { connectedFlag.load(ordering: .relaxed) }

    var lastGoodPath: String { settings.stateDirectory + "/config.pb" }

    /// Posts the config saved by the last successful apply, if any; returns its version.
    public func restoreLastGoodConfig() -> UInt64? {
        guard let bytes = FileManager.default.contents(atPath: lastGoodPath),
              let config = try? Mbox_V1_AgentConfig(serializedBytes: bytes) else { return nil }
        do {
            slot.post(try update(for: config))
            log("restored config version \(config.version) (\(config.hasChain ? "chain \(config.chain.name)" : "no chain")) from \(lastGoodPath)")
            return config.version
        } catch {
            log("the saved config \(lastGoodPath) no longer compiles: \(error)")
            return nil
        }
    }

    /// Where pushed chains' NFs write their files.
    public var outputDirectory: String { settings.stateDirectory + "/output" }

    func update(for config: Mbox_V1_AgentConfig) throws -> ConfigSlot.Update {
        let compiled = try config.hasChain ? ChainSpecCompiler().compile(config.chain, outputDirectory: outputDirectory) : nil
        return ConfigSlot.Update(version: config.version, chain: compiled, spec: config.hasChain ? config.chain : nil)
    }

    /// The controller in use now (or to be tried next).
    public var controller: ControlEndpoint { settings.controllers[currentIndex.load(ordering: .relaxed) % settings.controllers.count] }

    /// Runs until the task is cancelled. A session that fails moves to the next
    /// controller at once (with a little jitter, so a replica's agents do not all arrive
    /// together); after every controller has failed in a row, exponential backoff (0.1 s to
    /// 5 s, with jitter) before the next round.
    public func run() async {
        var backoff = Duration.milliseconds(100)
        var failuresInRow = 0
        while !Task.isCancelled {
            let started = ContinuousClock.now
            let endpoint = controller
            do {
                try await session(endpoint)
            } catch {
                if Task.isCancelled { break }
                log("controller \(endpoint): \(Self.describe(error)); " + (settings.controllers.count > 1 ? "trying the next" : "retrying"))
            }
            connectedFlag.store(false, ordering: .relaxed)
            if ContinuousClock.now - started > .seconds(10) {
                backoff = .milliseconds(100)
                failuresInRow = 0
            }
            failuresInRow += 1
            currentIndex.wrappingIncrement(ordering: .relaxed)
            let jitter = Double.random(in: 0.8...1.2)
            if failuresInRow < settings.controllers.count {
                try? await Task.sleep(for: .milliseconds(50) * jitter)
            } else {
                failuresInRow = 0
                try? await Task.sleep(for: backoff * jitter)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? RPCError { return "\(error.code): \(error.message)" }
        return "\(error)"
    }

    struct SessionEnded: Error, CustomStringConvertible {
        let description: String
    }

    /// One connection: register, then config, alerts and statistics side by side until
    /// any of them fails.
    private func session(_ endpoint: ControlEndpoint) async throws {
        let client = try GRPCClient.controller(endpoint, tls: settings.tls)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.runConnections() }
            defer { client.beginGracefulShutdown() }
            let service = Mbox_V1_AgentService.Client(wrapping: client)
            var request = Mbox_V1_RegisterRequest()
            request.name = name
            request.labels = settings.labels
            request.capabilities = settings.capabilities
            request.runningVersion = slot.applied
            request.softwareVersion = settings.softwareVersion
            var options = CallOptions.defaults
            options.timeout = .seconds(5)
            let reply = try await service.register(request, options: options)
            connectedFlag.store(true, ordering: .relaxed)
            log("registered with \(endpoint) as agent '\(name)'; running version \(slot.applied), desired \(reply.desiredVersion)")
            group.addTask { try await self.watchConfig(service) }
            group.addTask { try await self.sendAlerts(service) }
            group.addTask { try await self.reportStats(service) }
            do {
                try await group.next()
                throw SessionEnded(description: "the controller closed the session")
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }

    private func watchConfig(_ service: Mbox_V1_AgentService.Client<HTTP2ClientTransport.Posix>) async throws {
        var request = Mbox_V1_WatchConfigRequest()
        request.name = name
        try await service.watchConfig(request) { response in
            for try await config in response.messages { try await self.apply(config, service) }
        }
    }

    /// Compiles, hands to the data path, waits for it to be taken, saves it as the last
    /// good config, and tells the controller either way.
    private func apply(_ config: Mbox_V1_AgentConfig, _ service: Mbox_V1_AgentService.Client<HTTP2ClientTransport.Posix>) async throws {
        var report = Mbox_V1_ReportAppliedRequest()
        report.name = name
        report.version = config.version
        if config.version == slot.applied {
            // Already running it (a reconnect), or version 0 — the controller has nothing
            // for this agent and it runs nothing (or its own --chain) yet.
            report.ok = true
        } else {
            do {
                slot.post(try update(for: config))
                if let refusal = await slot.outcome(of: config.version) {
                    report.error = refusal
                } else {
                    report.ok = true
                    try (config.serializedBytes() as Data).write(to: URL(fileURLWithPath: lastGoodPath), options: .atomic)
                }
            } catch {
                report.error = "\(error)"
            }
            log(report.ok ? "applied config version \(config.version) (\(config.hasChain ? "chain \(config.chain.name)" : "no chain"))"
                          : "refused config version \(config.version): \(report.error)")
        }
        _ = try await service.reportApplied(report)
    }

    /// Alerts per batch: large enough that the store's per-statement and per-commit costs
    /// are shared by many (8,192 of ~150 bytes stay far below the message limit).
    static let alertsPerBatch = 8192

    /// Stop-and-wait batches: send what is pending, wait for the controller's ack, then
    /// drop it from the spool. Unacknowledged alerts are resent by the next session.
    private func sendAlerts(_ service: Mbox_V1_AgentService.Client<HTTP2ClientTransport.Posix>) async throws {
        let (acks, ackInput) = AsyncStream.makeStream(of: Mbox_V1_AlertAck.self)
        let spool = self.spool
        let name = self.name
        try await service.streamAlerts(requestProducer: { writer in
            var replies = acks.makeAsyncIterator()
            while !Task.isCancelled {
                let alerts = try spool.pending(after: spool.lastAcknowledged, limit: Self.alertsPerBatch)
                if alerts.isEmpty {
                    try await Task.sleep(for: .milliseconds(20))
                    continue
                }
                var batch = Mbox_V1_AlertBatch()
                batch.agent = name
                batch.alerts = alerts
                try await writer.write(batch)
                guard let ack = await replies.next() else { throw SessionEnded(description: "the alert stream closed") }
                try spool.acknowledge(through: ack.throughSequence)
            }
        }, onResponse: { response in
            defer { ackInput.finish() }
            for try await ack in response.messages { ackInput.yield(ack) }
        })
    }

    private func reportStats(_ service: Mbox_V1_AgentService.Client<HTTP2ClientTransport.Posix>) async throws {
        while !Task.isCancelled {
            var stats = Mbox_V1_AgentStats(counters.snapshot())
            stats.name = name
            stats.spoolPending = UInt64(spool.pendingCount)
            stats.runningVersion = slot.applied
            _ = try await service.reportStats(stats)
            try await Task.sleep(for: settings.statsInterval)
        }
    }
}

extension Mbox_V1_AgentStats {
    /// A report's counters from the data paths' totals.
    init(_ totals: AgentCounters.Snapshot) {
        self.init()
        packets = totals.packets
        bytes = totals.bytes
        flows = totals.flows
        alerts = totals.alerts
        dropped = totals.dropped
        malformed = totals.malformed
        portMissed = totals.portMissed
        portNoMbuf = totals.portNoMbuf
    }
}

extension ConfigSlot.Update {
    /// An update for a pushed config: its compiled chain named as the spec names it.
    public init(version: UInt64, chain: CompiledChain?, spec: Mbox_V1_ChainSpec?) {
        self.init(version: version, chain: chain, chainName: spec?.name ?? "")
    }
}

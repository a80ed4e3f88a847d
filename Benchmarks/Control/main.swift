// Control-plane benchmark (release build): config push to many agents, and alert ingest.
//
//   swift build -c release --product mbox-bench-control && .build/release/mbox-bench-control
//
// 1. Push: N simulated agents (each its own certificate and mTLS connection on loopback)
//    register and watch their config; the operator applies a changed chain R times; for
//    each agent and round, the time from the apply call to the agent's ReportApplied
//    being recorded. p50/p99 over all agent-rounds.
// 2. Ingest: alerts/s into the store — alone (batches of 2,048), and end to end (K agents'
//    spools streamed over gRPC to the replicas in turn, from the first byte to the last ack).
// 4. With --compiling-agents M: M real agent sessions (ControlSession) that compile each
//    pushed chain before acknowledging it; time from apply to every one running it.
// 5. With --replicas N ≥ 2, failover: 20 agent sessions on the first replica, which then
//    stops serving at once (its listener and connections cancelled, in this process: no
//    SIGKILL here — ReplicaTests does that with processes); the time until every agent has
//    an alert raised after the stop acknowledged by another replica.
//
// --store postgres://... runs it all on PostgreSQL (SQLite in a scratch file otherwise);
// --replicas N serves from N controllers on that database (agents spread across them).
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import MBoxAgentControl
import MBoxRuntime
import MBoxFlow
import MBoxPacket
import MBoxControlPlane
import MBoxControllerCore
import MBoxProto

func argument(_ name: String, _ fallback: Int) -> Int {
    let arguments = CommandLine.arguments
    if let index = arguments.firstIndex(of: name), index + 1 < arguments.count, let value = Int(arguments[index + 1]) { return value }
    return fallback
}

let agentCount = argument("--agents", 1000)
let rounds = argument("--rounds", 5)
let ingestAlerts = argument("--alerts", 200_000)
let ingestAgents = argument("--ingest-agents", 4)
let replicaCount = argument("--replicas", 1)
let compilingAgents = argument("--compiling-agents", 0)
let storeURL: String? = CommandLine.arguments.firstIndex(of: "--store").flatMap {
    $0 + 1 < CommandLine.arguments.count ? CommandLine.arguments[$0 + 1] : nil
}
precondition(storeURL != nil || replicaCount == 1, "--replicas needs --store postgres://...")

let scratch = NSTemporaryDirectory() + "mbox-bench-control-" + UUID().uuidString
try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: scratch) }

func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
}

let pkiDirectory = scratch + "/pki"
let ca = try DevelopmentCA.create(in: URL(fileURLWithPath: pkiDirectory))
try ca.issue(.controller, name: "controller")
try ca.issue(.operator, name: "bench")
var issued = Date()
let certificates = max(agentCount, ingestAgents, compilingAgents)
for index in 0..<certificates { try ca.issue(.agent, name: "agent-\(index)") }
print(String(format: "issued %d agent certificates in %.1f s", certificates, Date().timeIntervalSince(issued)))

func openStore() async throws -> any ControlStore {
    if let storeURL { return try await PostgresStore(url: storeURL) }
    return try SQLiteStore(path: scratch + "/controller.db")
}
let store = try await openStore()
print("store: \(storeURL == nil ? "SQLite" : "PostgreSQL"), \(replicaCount) controller(s)")
var servers: [ControllerServer] = []
var servings: [Task<Void, any Error>] = []
var endpoints: [ControlEndpoint] = []
for replica in 0..<replicaCount {
    let controller = Controller(store: replica == 0 ? store : try await openStore())
    // A thousand agents on one address handshake at once here; the simulated ones do not
    // retry, so no handshake may be evicted.
    var limits = ConnectionLimits()
    limits.unauthenticatedPerSource = 4096
    limits.unauthenticated = 4096
    let server = try ControllerServer(controller: controller, listen: ControlEndpoint(host: "127.0.0.1", port: 0),
                                      tls: TLSFiles(directory: pkiDirectory, name: "controller"), limits: limits)
    servers.append(server)
    servings.append(Task { try await server.serve() })
    endpoints.append(ControlEndpoint(host: "127.0.0.1", port: try await server.listeningPort()))
}
let endpoint = endpoints[0]

/// Records, per round, when each agent reported its config applied.
actor AppliedLog {
    var times: [UInt64: [ContinuousClock.Instant]] = [:]
    var registered = 0
    func record(_ version: UInt64) { times[version, default: []].append(.now) }
    func register() { registered += 1 }
    func count(_ version: UInt64) -> Int { times[version]?.count ?? 0 }
}
let applied = AppliedLog()

// 1. Config push.
let chainYAML = """
name: bench
placement: {fleet: bench}
stack: {type: tcp_monitor, reassembly: true}
functions:
  - name: dpi
    type: DPI
    subscribe: [{event: DATA_RDY, from: client}]
    publish: [EVENT/DPI_DETECT]
  - name: signature_match
    type: Signature_Match
    parameters: {rules: rules.rules}
    subscribe:
      - {event: EVENT/DPI_DETECT, where: {protocol: http}}
      - {event: DATA_RDY, from: client, dynamic: true}
    publish: [EVENT/IDS_ALERT]
"""
func spec(round: Int) -> Mbox_V1_ChainSpec {
    var spec = Mbox_V1_ChainSpec()
    spec.yaml = chainYAML
    spec.file = "bench.yaml"
    spec.selector = ["fleet": "bench"]
    var rules = Mbox_V1_RuleSet()
    rules.name = "rules.rules"
    rules.text = #"alert tcp any any -> any 80 (msg:"round \#(round)"; content:"UNION SELECT"; nocase; sid:\#(1000 + round); rev:1;)"#
    spec.ruleSets = [rules]
    return spec
}

let agentTasks = (0..<agentCount).map { index in
    Task {
        let client = try GRPCClient.controller(endpoints[index % endpoints.count], tls: TLSFiles(directory: pkiDirectory, name: "agent-\(index)"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await client.runConnections() }
            let service = Mbox_V1_AgentService.Client(wrapping: client)
            var register = Mbox_V1_RegisterRequest()
            register.name = "agent-\(index)"
            register.labels = ["fleet": "bench"]
            _ = try await service.register(register)
            var watch = Mbox_V1_WatchConfigRequest()
            watch.name = register.name
            try await service.watchConfig(watch) { response in
                var first = true
                for try await config in response.messages {
                    var report = Mbox_V1_ReportAppliedRequest()
                    report.name = "agent-\(index)"
                    report.version = config.version
                    report.ok = true
                    _ = try await service.reportApplied(report)
                    if first { await applied.register(); first = false } else { await applied.record(config.version) }
                }
            }
            client.beginGracefulShutdown()
        }
    }
}
let connectStart = Date()
while await applied.registered < agentCount { try await Task.sleep(for: .milliseconds(10)) }
print(String(format: "%d agents registered and watching in %.1f s", agentCount, Date().timeIntervalSince(connectStart)))

var latencies: [Double] = []
let operatorClient = try GRPCClient.controller(endpoint, tls: TLSFiles(directory: pkiDirectory, name: "bench"))
let operatorTask = Task { try await operatorClient.runConnections() }
let operatorService = Mbox_V1_OperatorService.Client(wrapping: operatorClient)
for round in 1...rounds {
    var request = Mbox_V1_ApplyChainRequest()
    request.spec = spec(round: round)
    let start = ContinuousClock.now
    let response = try await operatorService.applyChain(request)
    while await applied.count(response.revision) < agentCount { try await Task.sleep(for: .milliseconds(1)) }
    let times = await applied.times[response.revision]!
    latencies += times.map { Double(($0 - start).components.attoseconds) / 1e15 + Double(($0 - start).components.seconds) * 1000 }
    let slowest = times.map { $0 - start }.max()!
    print("round \(round): revision \(response.revision) applied by \(agentCount) agents; last after \(slowest)")
}
latencies.sort()
print(String(format: "config push to %d agents, %d rounds: time to applied p50 %.1f ms, p99 %.1f ms, max %.1f ms (goal p99 < 1000 ms)",
             agentCount, rounds, percentile(latencies, 0.5), percentile(latencies, 0.99), latencies.last!))
agentTasks.forEach { $0.cancel() }

// 2a. Ingest into the store alone.
let ingestStore = store
let batch = 2048
var storeStart = ContinuousClock.now
var stored = 0
while stored < ingestAlerts {
    let alerts = (stored..<min(ingestAlerts, stored + batch)).map { index -> Mbox_V1_Alert in
        var alert = Mbox_V1_Alert()
        alert.sequence = UInt64(index + 1)
        alert.spoolID = 1
        alert.timestampUs = 1_700_000_000_000_000 + Int64(index)
        alert.sid = UInt32(1_000_000 + index % 7)
        alert.signature = "bench signature \(index % 7)"
        alert.category = "web-application-attack"
        alert.action = "allowed"
        alert.flow.srcIp = "10.0.\(index % 250).\(index % 200)"
        alert.flow.srcPort = UInt32(1024 + index % 60000)
        alert.flow.destIp = "192.0.2.1"
        alert.flow.destPort = 80
        alert.flow.proto = "TCP"
        return alert
    }
    stored += try await ingestStore.insertAlerts(alerts, agent: "store-alone").stored.count
}
var seconds = Double((ContinuousClock.now - storeStart).components.attoseconds) / 1e18 + Double((ContinuousClock.now - storeStart).components.seconds)
print(String(format: "ingest into the store alone (batches of %d): %d alerts in %.2f s = %.0f alerts/s",
             batch, stored, seconds, Double(stored) / seconds))

// 2b. Ingest end to end: agents' spools over gRPC.
var sessions: [ControlSession] = []
for index in 0..<ingestAgents {
    let settings = ControlSession.Settings(controller: endpoints[index % endpoints.count],
                                           tls: TLSFiles(directory: pkiDirectory, name: "agent-\(index)"),
                                           stateDirectory: scratch + "/agent-\(index)")
    let session = try ControlSession(settings: settings, spool: try AlertSpool(directory: scratch + "/agent-\(index)/spool"),
                                     slot: ConfigSlot(), counters: AgentCounters()) { _ in }
    for index in 0..<(ingestAlerts / ingestAgents) {
        var alert = Mbox_V1_Alert()
        alert.timestampUs = 1_700_000_000_000_000 + Int64(index)
        alert.sid = UInt32(1_000_000 + index % 7)
        alert.signature = "bench signature \(index % 7)"
        alert.action = "allowed"
        alert.flow.srcIp = "10.0.\(index % 250).\(index % 200)"
        alert.flow.destIp = "192.0.2.1"
        alert.flow.proto = "TCP"
        session.spool.append(alert)
    }
    sessions.append(session)
}
let before = try await store.alertCount()
storeStart = ContinuousClock.now
let sessionTasks = sessions.map { session in Task.detached { await session.run() } }
while sessions.contains(where: { $0.spool.pendingCount > 0 }) { try await Task.sleep(for: .milliseconds(2)) }
seconds = Double((ContinuousClock.now - storeStart).components.attoseconds) / 1e18 + Double((ContinuousClock.now - storeStart).components.seconds)
let delivered = try await store.alertCount() - before
print(String(format: "ingest end to end (%d agents streaming spools over mTLS gRPC to %d controller(s)): %d alerts in %.2f s = %.0f alerts/s",
             ingestAgents, replicaCount, delivered, seconds, Double(delivered) / seconds))
sessionTasks.forEach { $0.cancel() }

// 4. Agents that compile what they are pushed.
if compilingAgents > 0 {
    var agents: [(ControlSession, Task<Void, Never>, Task<Void, Never>)] = []
    for index in 0..<compilingAgents {
        var settings = ControlSession.Settings(controller: endpoints[index % endpoints.count],
                                               tls: TLSFiles(directory: pkiDirectory, name: "agent-\(index)"),
                                               stateDirectory: scratch + "/compiling-\(index)")
        settings.labels = ["fleet": "bench"]
        let slot = ConfigSlot()
        let session = try ControlSession(settings: settings, spool: try AlertSpool(directory: scratch + "/compiling-\(index)/spool"),
                                         slot: slot, counters: AgentCounters()) { _ in }
        // The data path's side: takes each compiled chain and runs it (reports at once).
        let reader = slot.makeReader()
        let taking = Task.detached {
            while !Task.isCancelled {
                if let update = reader.take() { reader.report(update.version, error: nil) }
                try? await Task.sleep(for: .milliseconds(1))
            }
        }
        agents.append((session, Task.detached { await session.run() }, taking))
    }
    while !agents.allSatisfy({ $0.0.isConnected }) { try await Task.sleep(for: .milliseconds(10)) }
    var compileLatencies: [Double] = []
    for round in 1...rounds {
        var request = Mbox_V1_ApplyChainRequest()
        request.spec = spec(round: 100 + round)
        let start = ContinuousClock.now
        let response = try await operatorService.applyChain(request)
        var done = Set<Int>()
        while done.count < agents.count {
            for (index, agent) in agents.enumerated() where !done.contains(index) && agent.0.slot.applied == response.revision {
                done.insert(index)
                let elapsed = ContinuousClock.now - start
                compileLatencies.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
    compileLatencies.sort()
    print(String(format: "config push to %d agents that compile it, %d rounds: time to running p50 %.1f ms, p99 %.1f ms, max %.1f ms",
                 compilingAgents, rounds, percentile(compileLatencies, 0.5), percentile(compileLatencies, 0.99), compileLatencies.last!))
    agents.forEach { $0.1.cancel(); $0.2.cancel() }
}
// 5. Failover.
if replicaCount >= 2 {
    var sessions: [ControlSession] = []
    var running: [Task<Void, Never>] = []
    for index in 0..<20 {
        let settings = ControlSession.Settings(controllers: endpoints, tls: TLSFiles(directory: pkiDirectory, name: "agent-\(index)"),
                                               stateDirectory: scratch + "/failover-\(index)")
        let session = try ControlSession(settings: settings, spool: try AlertSpool(directory: scratch + "/failover-\(index)/spool"),
                                         slot: ConfigSlot(), counters: AgentCounters()) { _ in }
        sessions.append(session)
        running.append(Task.detached { await session.run() })
    }
    while !sessions.allSatisfy({ $0.isConnected && $0.controller == endpoints[0] }) { try await Task.sleep(for: .milliseconds(10)) }
    let stopped = ContinuousClock.now
    servings[0].cancel()
    for session in sessions {
        var alert = Mbox_V1_Alert()
        alert.timestampUs = Int64(Date().timeIntervalSince1970 * 1_000_000)
        alert.sid = 1
        alert.signature = "raised after the replica stopped"
        session.spool.append(alert)
    }
    var recovered: [Double] = []
    var waiting = Set(sessions.indices)
    while !waiting.isEmpty, ContinuousClock.now - stopped < .seconds(60) {
        for index in waiting where sessions[index].spool.pendingCount == 0 && sessions[index].controller != endpoints[0] {
            waiting.remove(index)
            let elapsed = ContinuousClock.now - stopped
            recovered.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
        }
        try await Task.sleep(for: .milliseconds(5))
    }
    recovered.sort()
    print(String(format: "failover: %d agents of a stopped replica streaming to another again after p50 %.0f ms, max %.0f ms%@ (goal < 3 s)",
                 recovered.count, percentile(recovered, 0.5), recovered.last ?? 0,
                 waiting.isEmpty ? "" : ", \(waiting.count) not within 60 s"))
    running.forEach { $0.cancel() }
}
operatorClient.beginGracefulShutdown()
operatorTask.cancel()
for server in servers { await server.stop() }
servings.forEach { $0.cancel() }

// 3. What a worker pays per alert: appending to the spool itself (a serialisation and a
//    write(2) under the spool's lock, as before) or a push into its ring (the writer
//    thread serialises and writes in batches). Median of 5 runs of 50,000 alerts each.
func workerCost(_ label: String, _ body: (AlertSpool, [AlertRecord]) -> Void) throws -> Double {
    var runs: [Double] = []
    let alerts = (0..<50_000).map { index -> AlertRecord in
        let key = FlowKey(client: IPAddress(10, 0, UInt8(index % 250), 1), clientPort: 40_000, server: IPAddress(192, 0, 2, 1),
                          serverPort: 80, ipProtocol: 6)
        return AlertRecord(timestamp: 1_700_000_000_000_000_000, flowID: UInt64(index), key: key, toServer: true,
                           sid: UInt32(2_000_000 + index % 100), signature: "ET WEB_SERVER SQL injection attempt \(index % 100)")
    }
    for run in 0..<5 {
        let spool = try AlertSpool(directory: scratch + "/worker-\(label)-\(run)")
        let start = ContinuousClock.now
        body(spool, alerts)
        let elapsed = ContinuousClock.now - start
        runs.append((Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9) / Double(alerts.count))
    }
    return runs.sorted()[2]
}
let direct = try workerCost("direct") { spool, alerts in for alert in alerts { spool.append(Mbox_V1_Alert(alert)) } }
var writers: [AlertWriter] = []
let ringed = try workerCost("ring") { spool, alerts in
    let writer = AlertWriter(spool: spool, workers: 1, capacity: 1 << 17)
    writers.append(writer)
    let ring = writer.ring(0)
    for alert in alerts { ring.push(alert) }
}
writers.forEach { $0.flush() }
print(String(format: "worker's cost per alert: spool append %.0f ns, ring push %.0f ns (%.1fx less)", direct, ringed, direct / ringed))

import Foundation
import MBoxFlow
import MBoxPacket
import MBoxRuntime
import GRPCCore
import GRPCNIOTransportHTTP2
import MBoxCapture
import MBoxControlPlane
import MBoxControllerCore
import MBoxProto
import MBoxTrafficGen

/// A scratch directory removed when the value goes away.
final class ScratchDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "mbox-control-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A command `swift build` put in .build (the tests do not build it themselves).
func builtCommand(_ name: String) -> String? {
    for configuration in ["debug", "release"] {
        let path = packageRoot + "/.build/\(configuration)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// A development CA with a controller, two agents and an operator, in a scratch directory.
struct TestPKI {
    let directory: String

    init(in scratch: ScratchDirectory, name: String = "pki", agents: [String] = ["edge-1", "edge-2"]) throws {
        directory = scratch.file(name)
        let ca = try DevelopmentCA.create(in: URL(fileURLWithPath: directory))
        try ca.issue(.controller, name: "controller")
        for agent in agents { try ca.issue(.agent, name: agent) }
        try ca.issue(.operator, name: "alice")
    }

    func files(_ name: String) -> TLSFiles { TLSFiles(directory: directory, name: name) }
}

/// The store the control-plane suites run on: SQLite, or PostgreSQL with
/// `MBOX_TEST_STORE=postgres` (scripts/test.sh runs them both ways).
let testStoreKind: StoreKind = ProcessInfo.processInfo.environment["MBOX_TEST_STORE"] == "postgres" ? .postgres : .sqlite

/// A store of `testStoreKind` for one test (its server, if any, kept by the fixture).
func makeTestStore() async throws -> (any ControlStore, StoreFixture) {
    let fixture = try await StoreFixture.make(testStoreKind)
    return (try await fixture.open(), fixture)
}

/// A controller serving on a free loopback port, in this process.
final class RunningController: @unchecked Sendable {
    let controller: Controller
    let server: ControllerServer
    let task: Task<Void, any Error>
    let port: Int
    /// The store's location when the controller made it (`in:pki:`).
    var fixture: StoreFixture?

    init(store: any ControlStore, pki: TestPKI, port: Int = 0, limits: ConnectionLimits = ConnectionLimits()) async throws {
        controller = Controller(store: store)
        server = try ControllerServer(controller: controller, listen: ControlEndpoint(host: "127.0.0.1", port: port),
                                      tls: pki.files("controller"), limits: limits)
        let server = self.server
        task = Task { try await server.serve() }
        self.port = try await server.listeningPort()
    }

    /// A controller on a fresh store of `testStoreKind`, with certificates from `pki`.
    convenience init(in scratch: ScratchDirectory, pki: TestPKI, limits: ConnectionLimits = ConnectionLimits()) async throws {
        let (store, fixture) = try await makeTestStore()
        try await self.init(store: store, pki: pki, limits: limits)
        self.fixture = fixture
    }

    var endpoint: ControlEndpoint { ControlEndpoint(host: "127.0.0.1", port: port) }

    func stop() async {
        await server.stop()
        _ = try? await task.value
    }
}

/// Runs `body` with a client of the controller at `endpoint` holding `tls`.
func withClient<Result: Sendable>(
    _ endpoint: ControlEndpoint, tls: TLSFiles,
    _ body: @Sendable (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
    let client = try GRPCClient.controller(endpoint, tls: tls)
    return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
        group.addTask { try await client.runConnections() }
        defer { client.beginGracefulShutdown() }
        return try await body(client)
    }
}

/// Call options with a deadline, so a failing test fails instead of hanging.
var shortDeadline: CallOptions {
    var options = CallOptions.defaults
    options.timeout = .seconds(10)
    return options
}

/// A chain spec as `mboxctl apply -f` makes it, from text.
func chainSpec(_ yaml: String, rules: [String: String], file: String = "test-chain.yaml") -> Mbox_V1_ChainSpec {
    var spec = Mbox_V1_ChainSpec()
    spec.yaml = yaml
    spec.file = file
    spec.ruleSets = rules.sorted { $0.key < $1.key }.map { name, text in
        var set = Mbox_V1_RuleSet()
        set.name = name
        set.text = text
        return set
    }
    return spec
}

/// A Firewall chain on the L2/L3 stack dropping TCP flows to `port`, placed by `placement`
/// when given.
func firewallChain(name: String, droppingPort port: Int, placement: String? = nil) -> String {
    """
    name: \(name)
    \(placement.map { "placement: {\($0)}\n" } ?? "")stack: {type: l2l3}
    functions:
      - name: firewall
        type: Firewall
        parameters:
          rules:
            - {action: drop, proto: tcp, dst_port: "\(port)"}
        subscribe: [PKT]
    """
}

/// The IDS chain with placement `role: ids`, reading `rules.rules`.
func idsChain(name: String = "ids-edge", placement: String = "role: ids", dynamic: Bool = true) -> String {
    """
    name: \(name)
    placement: {\(placement)}
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
    \(dynamic ? "      - {event: EVENT/DPI_DETECT, where: {protocol: http}}\n      - {event: DATA_RDY, from: client, dynamic: true}"
              : "      - {event: DATA_RDY, from: client}")
        publish: [EVENT/IDS_ALERT]
    """
}

let sqlRule = #"alert tcp any any -> any 80 (msg:"SQL injection"; flow:established,to_server; content:"UNION SELECT"; nocase; sid:1000001; rev:1;)"#
let sshRule = #"alert tcp any any -> any 22 (msg:"SSH client banner"; flow:to_server,established; content:"SSH-2.0-"; depth:8; sid:1000003; rev:1;)"#
let loginRule = #"alert tcp any any -> any any (msg:"Login form posted"; flow:to_server,established; content:"POST"; depth:4; sid:1000002; rev:1;)"#

/// A generated capture written to `path`.
@discardableResult
func generate(_ profile: TrafficProfile, to path: String) throws -> GenerationSummary {
    let writer = try PcapWriter(.file(path: path))
    let summary = try TrafficGenerator(profile: profile).write(to: writer)
    try writer.close()
    return summary
}

/// Polls `condition` every 20 ms for up to `seconds`; whether it came true.
func eventually(seconds: Double = 30, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

/// Synthetic alerts for spool and ingest tests.
/// An alert as a worker records it, `index` making it distinct (the writer thread turns it
/// into `syntheticAlert(index)`'s protobuf form).
func syntheticRecord(_ index: Int) -> AlertRecord {
    let key = FlowKey(client: IPAddress(10, 0, UInt8(index % 250), UInt8(index % 200)), clientPort: UInt16(1024 + index % 60000),
                      server: IPAddress(192, 0, 2, 1), serverPort: 80, ipProtocol: 6)
    return AlertRecord(timestamp: 1_700_000_000_000_000_000 + UInt64(index) * 1000, flowID: UInt64(index), key: key, toServer: true,
                       sid: UInt32(1_000_000 + index % 7), signature: "synthetic \(index % 7)")
}

func syntheticAlert(_ index: Int) -> Mbox_V1_Alert {
    var alert = Mbox_V1_Alert()
    alert.timestampUs = 1_700_000_000_000_000 + Int64(index)
    alert.sid = UInt32(1_000_000 + index % 7)
    alert.signature = "synthetic \(index % 7)"
    alert.action = "allowed"
    alert.flow.srcIp = "10.0.\(index % 250).\(index % 200)"
    alert.flow.srcPort = UInt32(1024 + index % 60000)
    alert.flow.destIp = "192.0.2.1"
    alert.flow.destPort = 80
    alert.flow.proto = "TCP"
    alert.flowID = UInt64(index)
    return alert
}

import ArgumentParser
import Foundation
import MBoxConsole
import MBoxControlPlane
import MBoxControllerCore

@main
struct MBoxControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mbox-controller",
        abstract: "The Microboxes controller: chains, placement, agents' configs and alerts, over gRPC with mutual TLS.",
        version: MBoxVersion.description,
        subcommands: [Serve.self])
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve agents and operators until SIGINT/SIGTERM.",
        discussion: """
        Certificates come from a `mboxctl pki` directory (--pki, the controller's name \
        'controller' by default) or from --cert/--key/--ca. State lives in the SQLite file \
        --db, or in the PostgreSQL database --store, and survives restarts.
        """)

    @Option(help: "Address to listen on (HOST:PORT; port 0 picks a free one).")
    var listen = "127.0.0.1:7443"

    @Option(help: "SQLite database file (the embedded store, when --store is not given).")
    var db = "mbox-controller.db"

    @Option(help: "A PostgreSQL database shared by controller replicas: postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or ?host=/socket/dir).")
    var store: String?

    @Option(help: "Serve Prometheus metrics at http://HOST:PORT/metrics (plain HTTP: keep it on loopback or a management network).")
    var metrics: String?

    @Option(help: "Serve the web console at https://HOST:PORT/ (the controller's certificate; operators sign in with `mboxctl console-token`).")
    var console: String?

    @Option(help: "Directory made by `mboxctl pki` holding ca.pem and NAME.pem/NAME-key.pem.")
    var pki: String?

    @Option(help: "The controller's certificate name in --pki.")
    var name = "controller"

    @OptionGroup var certificates: CertificateOptions

    @Option(help: "Seconds a connection may take to finish its TLS handshake.")
    var handshakeTimeout = 10

    @Option(help: "Seconds a connection may stay without any RPC (agents always hold one).")
    var idleTimeout = 300

    @Option(help: "Connections at once (default: the open-file limit less 256).")
    var maxConnections: Int?

    @Option(help: "Connections still in their TLS handshake at once, from one address.")
    var maxHandshakesPerSource = 256

    @Option(help: "Connections still in their TLS handshake at once, in all.")
    var maxHandshakes = 1024

    @Option(help: "Keep alerts this many days (fractions allowed); older ones are pruned in the background.")
    var retainDays: Double?

    @Option(help: "Keep at most this many alerts (the newest); the rest are pruned in the background.")
    var retainAlerts: Int?

    @Option(help: "Seconds between pruning rounds.")
    var pruneInterval = 60

    func validate() throws {
        if let retainDays, !(retainDays > 0) { throw ValidationError("--retain-days is a number of days above zero") }
        if let retainAlerts, retainAlerts < 1 { throw ValidationError("--retain-alerts is a count above zero") }
        guard pruneInterval > 0 else { throw ValidationError("--prune-interval is a number of seconds above zero") }
        guard handshakeTimeout > 0, idleTimeout > 0, maxHandshakesPerSource > 0, maxHandshakes > 0, (maxConnections ?? 1) > 0 else {
            throw ValidationError("timeouts and connection limits are numbers above zero")
        }
        guard pki != nil || certificates.complete else {
            throw ValidationError("give --pki DIR, or all of --cert, --key and --ca")
        }
        _ = try Self.address(listen, "--listen")
        _ = try metrics.map { try Self.address($0, "--metrics") }
        _ = try console.map { try Self.address($0, "--console") }
    }

    /// `text` as HOST:PORT, or a usage error naming `flag`.
    static func address(_ text: String, _ flag: String) throws -> ControlEndpoint {
        do { return try ControlEndpoint(parsing: text) } catch { throw ValidationError("\(flag): \(error)") }
    }

    func run() async throws {
        let log = MBoxLogging.logger("mbox.controller")
        guard let tls = certificates.files(over: pki.map { TLSFiles(directory: $0, name: name) }) else {
            throw ValidationError("give --pki DIR, or all of --cert, --key and --ca")
        }
        let (store, storeName) = try await openStore()
        let controller = Controller(store: store)
        let server: ControllerServer
        var limits = ConnectionLimits()
        limits.handshakeTimeout = .seconds(Int64(handshakeTimeout))
        limits.idleTimeout = .seconds(idleTimeout)
        if let maxConnections { limits.connections = maxConnections }
        limits.unauthenticatedPerSource = maxHandshakesPerSource
        limits.unauthenticated = maxHandshakes
        do { server = try ControllerServer(controller: controller, listen: try Self.address(listen, "--listen"), tls: tls, limits: limits) } catch {
            throw ControllerFailure("\(error)")
        }
        let metricsServer = try await metrics.map { try Self.address($0, "--metrics") }.asyncMap { address in
            do {
                let exporter = try await MetricsServer(host: address.host, port: address.port) { [gate = server.gate] in
                    (try? await controller.metricsText(connections: gate.counters)) ?? ""
                }
                log.info("metrics at http://\(ControlEndpoint(host: address.host, port: exporter.port))/metrics")
                return exporter
            } catch { throw ControllerFailure("cannot serve metrics on \(address): \(error)") }
        }
        let consoleServer = try await console.map { try Self.address($0, "--console") }.asyncMap { address in
            do {
                let web = try await ConsoleServer(controller: controller, listen: address, tls: tls)
                log.info("console at https://\(ControlEndpoint(host: address.host, port: web.port))/")
                return web
            } catch { throw ControllerFailure("cannot serve the console on \(address): \(error)") }
        }
        let stop = SignalStop { Task { await server.stop(); await metricsServer?.close(); await consoleServer?.close() } }
        var retention = AlertRetention(maximumAge: retainDays.map { $0 * 86_400 }, maximumCount: retainAlerts)
        retention.interval = .seconds(pruneInterval)
        let pruning = retention
        let pruner = retention.isUnlimited ? nil : Task { await controller.pruneInBackground(pruning) }
        defer { pruner?.cancel() }
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            if let consoleServer { group.addTask { try await consoleServer.serve() } }
            let port = try await server.listeningPort()
            let endpoint = try Self.address(listen, "--listen")
            log.info("mbox-controller \(MBoxVersion.release) listening on \(ControlEndpoint(host: endpoint.host, port: port)), database \(storeName)")
        }
        withExtendedLifetime(stop) {}
        log.info("mbox-controller stopped")
    }
}

extension Serve {
    /// The store --store names (PostgreSQL), or the SQLite file --db; with its name for the log.
    func openStore() async throws -> (any ControlStore, String) {
        if let url = store {
            do {
                let postgres = try await PostgresStore(url: url)
                return (postgres, postgres.location)
            } catch { throw ControllerFailure("cannot open the store: \(error)") }
        }
        do { return (try SQLiteStore(path: db), db) } catch { throw ControllerFailure("cannot open the database \(db): \(error)") }
    }
}

extension Optional {
    /// `map` for an async transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}

struct ControllerFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

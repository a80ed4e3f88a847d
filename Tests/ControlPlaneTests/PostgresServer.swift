import Foundation
import MBoxControllerCore

/// A throw-away PostgreSQL cluster (apt `postgresql`) in a scratch directory, on a Unix
/// socket only, run as the `postgres` user (initdb refuses root); stopped and removed when
/// the value goes away.
final class PostgresServer: @unchecked Sendable {
    let directory: String
    let port: Int
    private let binaries: String
    private let runAs: [String]

    /// The URL a store or `mbox-controller --store` connects with.
    var url: String { "postgres://mbox@localhost/mbox?host=\(directory)&port=\(port)" }

    init() throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.sorted().last else {
            throw PostgresServerError("PostgreSQL is not installed (apt-get install postgresql)")
        }
        binaries = "/usr/lib/postgresql/\(version)/bin"
        directory = "/tmp/mbox-pg-" + UUID().uuidString.prefix(8)
        port = 20_000 + Int.random(in: 0..<20_000)
        runAs = getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--"] : []
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 { try Self.run(["/bin/chown", "postgres:postgres", directory]) }
        try Self.run(runAs + ["\(binaries)/initdb", "-D", "\(directory)/data", "-U", "mbox", "--auth=trust", "-E", "UTF8", "--no-sync"])
        try start()
        try Self.run(runAs + ["\(binaries)/createdb", "-h", directory, "-p", "\(port)", "-U", "mbox", "mbox"])
    }

    /// Starts the server; one start at a time in this process (several clusters starting
    /// at once, from suites running side by side, failed to start), retried once.
    func start() throws {
        try Self.starting.withLock {
            var attempt = 0
            while true {
                do {
                    try Self.run(runAs + ["\(binaries)/pg_ctl", "-D", "\(directory)/data", "-l", "\(directory)/log", "-w", "-t", "30", "-o",
                                          "-k \(directory) -p \(port) -c listen_addresses='' -c fsync=off -c max_connections=60 "
                                          + "-c shared_buffers=16MB -c dynamic_shared_memory_type=mmap", "start"])
                    return
                } catch {
                    attempt += 1
                    guard attempt < 3 else { throw PostgresServerError("\(error)\nserver log:\n\(log.suffix(2000))") }
                    usleep(500_000)
                }
            }
        }
    }

    private static let starting = NSLock()

    /// Stops the server (`fast`: clients are disconnected, the data is kept).
    func stop(mode: String = "fast") throws {
        try Self.run(runAs + ["\(binaries)/pg_ctl", "-D", "\(directory)/data", "-m", mode, "-w", "stop"])
    }

    var log: String { (try? String(contentsOfFile: "\(directory)/log", encoding: .utf8)) ?? "" }

    deinit {
        try? stop(mode: "immediate")
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs a command to its end (posix_spawn and waitpid: Foundation's Process did not
    /// reap runuser once pg_ctl had left the server running), its output in a file.
    static func run(_ arguments: [String]) throws {
        let output = NSTemporaryDirectory() + "mbox-pg-command-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: output) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, arguments[0], &actions, nil, argv, environ)
        guard spawned == 0 else { throw PostgresServerError("cannot start \(arguments[0]): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        guard status == 0 else {
            let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
            throw PostgresServerError("\(arguments.joined(separator: " ")) (status \(status)): \(text)")
        }
    }
}

struct PostgresServerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The two stores the controller runs on, for suites that check both.
enum StoreKind: String, CaseIterable, Sendable, CustomStringConvertible {
    case sqlite, postgres

    var description: String { rawValue }
}

/// One store's location (a SQLite file, or a PostgreSQL server of its own), opened as many
/// times as a test wants: what a restart or a second replica would see.
final class StoreFixture: @unchecked Sendable {
    let kind: StoreKind
    let scratch: ScratchDirectory
    let server: PostgresServer?
    private var opened: [PostgresStore] = []

    /// Made off the shared threads (initdb and pg_ctl are waited for).
    static func make(_ kind: StoreKind) async throws -> StoreFixture {
        try await offPool { try StoreFixture(kind) }
    }

    init(_ kind: StoreKind) throws {
        self.kind = kind
        scratch = try ScratchDirectory()
        server = kind == .postgres ? try PostgresServer() : nil
    }

    /// What `mbox-controller serve` is given for this store.
    var arguments: [String] { server.map { ["--store", $0.url] } ?? ["--db", scratch.file("c.db")] }

    func open() async throws -> any ControlStore {
        guard let server else { return try SQLiteStore(path: scratch.file("c.db")) }
        let store = try await PostgresStore(url: server.url)
        opened.append(store)
        return store
    }

    deinit { opened.forEach { $0.close() } }
}

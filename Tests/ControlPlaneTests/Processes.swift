import Foundation

/// A program started in the background, its stderr in a file; stopped when done.
final class Launched: @unchecked Sendable {
    let process = Process()
    let logPath: String

    init(_ executable: String, _ arguments: [String], log: String, directory: String? = nil) throws {
        logPath = log
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = FileHandle(forWritingAtPath: log)!
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = handle
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        try process.run()
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The first line of the log containing `marker`, waiting up to `seconds`.
    func line(containing marker: String, seconds: Double = 30) async -> String? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let line = log.split(separator: "\n").first(where: { $0.contains(marker) }) { return String(line) }
            if !process.isRunning { break }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return log.split(separator: "\n").first(where: { $0.contains(marker) }).map(String.init)
    }

    /// The port in "listening on HOST:PORT".
    func listeningPort() async -> Int? {
        guard let line = await line(containing: "listening on") else { return nil }
        let address = line.components(separatedBy: "listening on ")[1].split(separator: ",")[0]
        return address.split(separator: ":").last.flatMap { Int($0) }
    }

    /// SIGTERM, then waits (SIGKILL after `seconds`); the exit status.
    @discardableResult
    func stop(seconds: Double = 20) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        process.terminate()
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    func kill9() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
}

/// Runs a command to completion; its status, stdout and stderr. Both go to files, read once
/// the command has exited: with a pipe, a long-lived program another test starts meanwhile
/// could inherit the pipe's write end and the read would wait for it, not for this command
/// (it did: a fleet test hung until its own controller was stopped, which it waited on).
func runCommand(_ executable: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let base = NSTemporaryDirectory() + "mbox-command-" + UUID().uuidString
    let (outPath, errPath) = (base + ".out", base + ".err")
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    defer {
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
    }
    let out = FileHandle(forWritingAtPath: outPath)!
    let err = FileHandle(forWritingAtPath: errPath)!
    defer {
        try? out.close()
        try? err.close()
    }
    process.standardOutput = out
    process.standardError = err
    try process.run()
    process.waitUntilExit()
    let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    return (process.terminationStatus, stdout, (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")
}

/// `runCommand` on a thread of its own: a test that waits for a command talking to a
/// controller in this process must not hold one of the few threads that controller needs
/// to answer (on 2 cores, two such waits starved it until the command's deadline).
func runCommandOffPool(_ executable: String, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await offPool { try runCommand(executable, arguments) }
}

/// Runs blocking work (waiting for processes, spinning on a ring) on a thread of its own,
/// off the few threads Swift's concurrency shares with the controllers tests run in process.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try body() }) }
    }
}

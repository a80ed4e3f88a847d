import Foundation
import Testing

/// Headless Chromium driven over the DevTools protocol by `Tests/Browser/console_browser.py`:
/// one command a line in, one JSON answer a line out.
final class Browser: @unchecked Sendable {
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var pending = Data()

    static var chromium: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    init() throws {
        let chromium = try #require(Self.chromium, "headless Chromium is needed (apt-get install chromium; scripts/setup.sh does)")
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [packageRoot + "/Tests/Browser/console_browser.py", chromium]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
    }

    /// Sends one command; its answer (`ok` false carries `error`).
    func send(_ command: String) async throws -> [String: Any] {
        input.fileHandleForWriting.write(Data((command + "\n").utf8))
        let reader = output.fileHandleForReading
        let line: Data = try await offPool { [self] in
            while !pending.contains(UInt8(ascii: "\n")) {
                let chunk = reader.availableData
                guard !chunk.isEmpty else { throw BrowserError("the browser driver exited") }
                pending.append(chunk)
            }
            let end = pending.firstIndex(of: UInt8(ascii: "\n"))!
            let line = pending[pending.startIndex..<end]
            pending = Data(pending[(end + 1)...])
            return Data(line)
        }
        return try #require(try JSONSerialization.jsonObject(with: line) as? [String: Any])
    }

    /// Navigates and waits for the page's load event; the address it ended at.
    func goto(_ url: String) async throws -> String {
        let answer = try await send("goto " + url)
        try #require(answer["ok"] as? Bool == true, "goto \(url): \(answer)")
        return answer["url"] as? String ?? ""
    }

    /// The value of a JavaScript expression (JSON-compatible).
    func evaluate(_ expression: String) async throws -> Any? {
        let answer = try await send("eval " + expression)
        try #require(answer["ok"] as? Bool == true, "eval \(expression): \(answer)")
        return answer["value"]
    }

    func string(_ expression: String) async throws -> String? { try await evaluate(expression) as? String }
    func int(_ expression: String) async throws -> Int? { try await evaluate(expression) as? Int }
    func bool(_ expression: String) async throws -> Bool { try await evaluate(expression) as? Bool == true }

    /// Waits up to `seconds` for `expression` to be truthy; whether it became so.
    func wait(seconds: Double, for expression: String) async throws -> Bool {
        let answer = try await send("wait \(seconds) " + expression)
        return answer["ok"] as? Bool == true
    }

    /// A PNG of the whole page at `path`; its size in bytes.
    func screenshot(_ path: String) async throws -> Int {
        let answer = try await send("shot " + path)
        try #require(answer["ok"] as? Bool == true, "screenshot: \(answer)")
        return answer["bytes"] as? Int ?? 0
    }

    /// The text of each cell of each body row of table `id`.
    func tableRows(_ id: String) async throws -> [[String]] {
        let value = try await evaluate(
            "Array.from(document.querySelectorAll('#\(id) tbody tr')).map(r => Array.from(r.cells).map(c => c.innerText.trim()))")
        return (value as? [[String]]) ?? []
    }

    func close() {
        input.fileHandleForWriting.write(Data("quit\n".utf8))
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate() }
    }

    deinit { if process.isRunning { process.terminate() } }
}

struct BrowserError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Where the console tests leave their screenshots for a person to look at.
let screenshotDirectory: String = {
    let path = ProcessInfo.processInfo.environment["MBOX_SCREENSHOTS"] ?? packageRoot + "/.build/console-screenshots"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()

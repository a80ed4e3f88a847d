import Foundation
import MBoxCapture
import MBoxDataPath
import MBoxTrafficGen
import Testing

/// A scratch directory removed when the value goes away.
final class ScratchDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "mbox-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The result of running a program to completion.
struct ProgramRun {
    let status: Int32
    let stdout: Data
    let stderr: String
}

/// Runs `arguments[0]` (found on PATH) and collects its output.
func run(_ arguments: [String]) throws -> ProgramRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let out = Pipe()
    // stderr goes to a file so neither stream can fill up while the other is read.
    let errPath = NSTemporaryDirectory() + "mbox-stderr-" + UUID().uuidString
    _ = FileManager.default.createFile(atPath: errPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errPath) }
    let err = FileHandle(forWritingAtPath: errPath)!
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try err.close()
    let errData = FileManager.default.contents(atPath: errPath) ?? Data()
    return ProgramRun(status: process.terminationStatus, stdout: outData, stderr: String(decoding: errData, as: UTF8.self))
}

/// Whether a program is on PATH.
func installed(_ program: String) -> Bool {
    (try? run(["sh", "-c", "command -v \(program)"]).status) == 0
}

/// The package's build directory, where `swift build` put the commands.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

func builtCommand(_ name: String) -> String? {
    for configuration in ["debug", "release"] {
        let path = packageRoot + "/.build/\(configuration)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

/// The built `mbox-agent` (the tests run the command itself).
func agentCommand() throws -> String {
    try #require(builtCommand("mbox-agent"), "run `swift build` first: the tests call the built command")
}

/// The (signature, flow) of each EVE alert line, without timestamps (capture time vs
/// receive time).
func alertSet(_ path: String) throws -> Set<String> {
    Set(try parseJSONLines(path).map { line in
        let alert = line["alert"] as! [String: Any]
        return "\(alert["signature_id"]!) \(line["src_ip"]!):\(line["src_port"]!) \(line["dest_ip"]!):\(line["dest_port"]!)"
    })
}

/// Writes a generated capture and returns what the generator reports.
@discardableResult
func generate(_ profile: TrafficProfile, to path: String) throws -> GenerationSummary {
    let writer = try PcapWriter(.file(path: path))
    let summary = try TrafficGenerator(profile: profile).write(to: writer)
    try writer.close()
    return summary
}

/// One TCP flow's two streams, keyed by its endpoints ("ip:port" client, "ip:port" server).
struct FlowStreams: Equatable, CustomStringConvertible {
    var client: String
    var server: String
    var toServer: [UInt8]
    var toClient: [UInt8]

    var description: String { "\(client) -> \(server) (\(toServer.count)/\(toClient.count) bytes)" }
}

/// Runs the data path over a capture the way `mbox-agent replay --streams` does and
/// parses the JSON lines it writes.
func replayStreams(_ pcap: String, configuration: DataPathConfiguration = DataPathConfiguration(),
                   scratch: ScratchDirectory) throws -> (lines: [[String: Any]], dataPath: DataPath) {
    let output = scratch.file("streams-\(UUID().uuidString).jsonl")
    _ = FileManager.default.createFile(atPath: output, contents: nil)
    let handle = FileHandle(forWritingAtPath: output)!
    let recorder = StreamRecorder(output: handle)
    let reader = try CaptureFileReader(path: pcap)
    let dataPath = DataPath(configuration: configuration)
    while let packet = try reader.next() {
        _ = dataPath.process(packet)
        try recorder.record(dataPath)
    }
    dataPath.finishAll()
    try recorder.record(dataPath)
    try recorder.flush()
    try handle.close()
    return (try parseJSONLines(output), dataPath)
}

func parseJSONLines(_ path: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n").map {
        try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
    }
}

func flowStreams(_ line: [String: Any]) -> FlowStreams {
    func endpoint(_ ip: String, _ port: Int) -> String { ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
    return FlowStreams(
        client: endpoint(line["src_ip"] as! String, line["src_port"] as! Int),
        server: endpoint(line["dest_ip"] as! String, line["dest_port"] as! Int),
        toServer: [UInt8](Data(base64Encoded: line["to_server"] as! String)!),
        toClient: [UInt8](Data(base64Encoded: line["to_client"] as! String)!))
}

/// Where two byte strings first differ (a short description), or nil when equal.
func firstDifference(_ ours: [UInt8], _ theirs: [UInt8]) -> String? {
    if ours == theirs { return nil }
    let index = zip(ours, theirs).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(ours.count, theirs.count)
    return "lengths \(ours.count) vs \(theirs.count), first difference at byte \(index)"
}

/// Writes a chain whose Firewall drops the TCP flows to `port`, on `stack` (`l2l3`, or
/// `tcp_monitor` with reassembly off).
func writeFirewallChain(to path: String, name: String, stack: String, droppingPort port: Int) throws {
    try """
    name: \(name)
    stack: \(stack == "l2l3" ? "{type: l2l3}" : "{type: \(stack), reassembly: false}")
    functions:
      - name: firewall
        type: Firewall
        parameters:
          rules:
            - {action: drop, proto: tcp, dst_port: "\(port)"}
        subscribe: [PKT]
    """.write(toFile: path, atomically: true, encoding: .utf8)
}

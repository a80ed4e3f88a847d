import Foundation
import MBoxCapture
import MBoxTrafficGen

/// A scratch directory removed when the value goes away.
final class ScratchDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "mbox-runtime-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs a program found on PATH to completion; its standard output (stderr to a file, so
/// neither pipe can fill while the other is read).
func output(of arguments: [String]) throws -> (status: Int32, stdout: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    let outPath = NSTemporaryDirectory() + "mbox-out-" + UUID().uuidString
    _ = FileManager.default.createFile(atPath: outPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: outPath) }
    let out = FileHandle(forWritingAtPath: outPath)!
    process.standardOutput = out
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    try out.close()
    return (process.terminationStatus, String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self))
}

func installed(_ program: String) -> Bool {
    (try? output(of: ["sh", "-c", "command -v \(program)"]).status) == 0
}

/// What tshark reads of each frame of `path` that `filter` selects: length, addresses,
/// ports and raw sequence number, one line per frame in file order.
func tsharkFrames(_ path: String, filter: String? = nil) throws -> [String] {
    var arguments = ["tshark", "-n", "-r", path, "-T", "fields", "-e", "frame.len", "-e", "ip.src", "-e", "ip.dst",
                     "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "tcp.seq_raw"]
    if let filter { arguments += ["-Y", filter] }
    let result = try output(of: arguments)
    guard result.status == 0 else { throw TestFailure("tshark failed on \(path)") }
    return result.stdout.split(separator: "\n").map(String.init)
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writes a generated capture to `path`.
func generate(_ profile: TrafficProfile, to path: String) throws {
    let writer = try PcapWriter(.file(path: path))
    _ = try TrafficGenerator(profile: profile).write(to: writer)
    try writer.close()
}

/// Writes frames to a pcap file, each with its time.
func writeCapture(_ frames: [(bytes: [UInt8], timestamp: UInt64)], to path: String) throws {
    let writer = try PcapWriter(.file(path: path), nanosecond: true)
    for frame in frames { try writer.write(timestamp: frame.timestamp, bytes: frame.bytes) }
    try writer.close()
}

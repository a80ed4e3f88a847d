import ArgumentParser
import Foundation
import MBoxCapture
import MBoxDataPath
import MBoxTCP

/// `mbox-agent replay`: runs a capture file through the data path.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Replay a pcap or pcapng file through parse → flow table → TCP Monitor (→ reassembly).",
        discussion: """
        With --streams, writes one JSON object per TCP flow per line: the client (src) and \
        server (dest) endpoints and both reassembled streams in base64. A summary goes to stderr.
        """)

    @Option(help: "Capture file to read (pcap or pcapng).")
    var pcap: String

    @Option(help: "Write each TCP flow's reassembled streams here as JSON lines.")
    var streams: String?

    @Option(help: "Overlapping segments with different bytes: 'first' (default) keeps the bytes received first, 'last' the latest.")
    var overlap: String = OverlapPolicy.first.rawValue

    @Option(help: "Most flows tracked at once.")
    var flowCapacity: Int = 262_144

    @Option(help: "Seconds (of capture time) after which an idle flow is expired.")
    var idleTimeout: Double = 120

    @Option(help: "Out-of-order bytes buffered per flow direction.")
    var reassemblyFlowLimit: Int = 256 * 1024

    @Option(help: "Out-of-order bytes buffered for all flows together.")
    var reassemblyGlobalLimit: Int = 256 * 1024 * 1024

    @Flag(help: "Track TCP state without reassembling streams.")
    var noReassembly = false

    func validate() throws {
        guard OverlapPolicy(rawValue: overlap) != nil else {
            throw ValidationError("--overlap must be 'first' or 'last', not '\(overlap)'")
        }
        guard flowCapacity > 0, flowCapacity <= 16_000_000 else {
            throw ValidationError("--flow-capacity must be between 1 and 16000000")
        }
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be positive") }
        guard reassemblyFlowLimit >= 2048, reassemblyGlobalLimit >= reassemblyFlowLimit else {
            throw ValidationError("reassembly limits must be at least 2048 bytes, the global one no less than the per-flow one")
        }
        if noReassembly, streams != nil {
            throw ValidationError("--streams needs reassembly; drop --no-reassembly")
        }
    }

    func run() throws {
        let reader: CaptureFileReader
        do {
            reader = try CaptureFileReader(path: pcap)
        } catch {
            throw ReplayError("\(pcap): \(error)")
        }
        var configuration = DataPathConfiguration()
        configuration.flowTable = .init(capacity: flowCapacity, idleTimeoutSeconds: idleTimeout)
        if noReassembly {
            configuration.reassembly = nil
        } else {
            var reassembly = ReassemblyConfiguration()
            reassembly.overlapPolicy = OverlapPolicy(rawValue: overlap)!
            reassembly.perDirectionLimit = reassemblyFlowLimit
            reassembly.globalLimit = reassemblyGlobalLimit
            configuration.reassembly = reassembly
        }
        let dataPath = DataPath(configuration: configuration)
        let recorder = try streams.map { path -> StreamRecorder in
            guard FileManager.default.createFile(atPath: path, contents: nil),
                  let handle = FileHandle(forWritingAtPath: path) else {
                throw ReplayError("cannot write \(path)")
            }
            return StreamRecorder(output: handle)
        }

        let progress = ProgressLine(totalBytes: reader.totalBytes)
        let started = Date()
        var readError: Error?
        while true {
            let packet: CapturedPacket?
            do {
                packet = try reader.next()
            } catch {
                readError = error
                break
            }
            guard let packet else { break }
            _ = dataPath.process(packet)
            try recorder?.record(dataPath)
            if dataPath.counters.packets & 0xFFFF == 0 {
                progress.update(packets: dataPath.counters.packets, offset: reader.offset)
            }
        }
        dataPath.finishAll()
        try recorder?.record(dataPath)
        try recorder?.flush()
        progress.finish()
        let seconds = Date().timeIntervalSince(started)
        Summary(dataPath: dataPath, seconds: seconds, flowsWritten: recorder?.flowsWritten).print()
        if let readError {
            throw ReplayError("\(pcap): \(readError) (the packets before it were processed)")
        }
    }
}

/// A failure while running (not a usage mistake): printed as is, exit status 1.
struct ReplayError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

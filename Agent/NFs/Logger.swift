import Foundation
import MBoxCapture
import MBoxConcurrency
import MBoxEvents
import MBoxFlow
import MBoxNFRunner
import MBoxRules

/// Logger: writes a line per event it receives — packets, long flows, ended flows,
/// alerts, application transactions (`APP/…`: method, host, URI, status, SNI, query) — into a buffer that a writer thread of its file takes between bursts (the
/// worker never calls into the file system). On `EVENT/LONG_FLOW` it turns on its dynamic
/// subscriptions for that flow, so it can log long flows only.
public final class Logger: NetworkFunction {
    public private(set) var records: UInt64 = 0
    private var context: NFContext!
    private let sink: FileSink
    private let output: FileSink.Producer
    private let path: String

    /// Logs to `path` ("/dev/null" by default: the work is done, the lines dropped).
    public init(path: String = "/dev/null") throws {
        self.path = path
        do {
            sink = FileSink(handle: try OutputFile.open(path), path: path)
        } catch {
            throw LoggerError(message: "cannot open \(path) for writing: \(error)")
        }
        output = sink.producer()
    }

    public struct LoggerError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    deinit { output.submitAll() }

    public func attach(_ context: NFContext) { self.context = context }

    public func handle(_ event: Event) {
        if event.type == .longFlow { context.subscribeDynamic(slot: event.slot) }
        let key = context.flowKey(of: event)
        append(event.timestamp / 1000)
        append(" ")
        append(context.types.name(event.type))
        append(" flow=")
        append(event.flowID)
        append(" ")
        append(key.client.description)
        append(":")
        append(UInt64(key.clientPort))
        append(" > ")
        append(key.server.description)
        append(":")
        append(UInt64(key.serverPort))
        append(" len=")
        append(UInt64(event.packet.count + event.dataLength))
        if event.type == .idsAlert || event.type == .longFlow {
            append(" detail=")
            append(event.detail.index >= 0 ? UInt64(event.detail.index) : event.detail.value)
        } else if context.types.isA(event.type, .app), let stage = context.appLayer {
            // What the application-layer stage parsed: the transaction's names, not bytes.
            let buffers = stage.transaction(at: event.detail.index).buffers
            for (name, buffer) in Self.appFields where buffers.has(buffer) {
                append(" ")
                append(name)
                append("=")
                _ = buffers.first(buffer) { bytes in
                    output.append(contentsOf: bytes.prefix(256).lazy.map { $0 < 0x20 || $0 > 0x7E ? UInt8(ascii: ".") : $0 })
                    return true
                }
            }
        }
        append("\n")
        records &+= 1
        if output.pending.count >= 1 << 16 { output.submit() }
    }

    /// End of input: every line reaches the file before this returns.
    public func finish() {
        output.submitAll()
        try? sink.flush()
    }

    /// The fields an `APP/…` line names, when its transaction has them.
    static let appFields: [(String, InspectionBuffer)] = [
        ("method", .httpMethod), ("host", .httpHost), ("uri", .httpURIRaw), ("status", .httpStatCode), ("sni", .tlsSNI),
        ("query", .dnsQuery), ("ssh", .sshSoftware),
    ]

    private func append(_ text: String) { output.append(contentsOf: text.utf8) }

    private func append(_ number: UInt64) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var value = number
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[19 - count] = UInt8(ascii: "0") + UInt8(value % 10)
                value /= 10
                count += 1
            } while value > 0
            output.append(contentsOf: raw[(20 - count)...])
        }
    }
}

// MARK: - Its kind: parameters read from the chain file, beside the NF.

extension Logger {
    public static let kind = NFKind(type: "Logger", action: .readOnly, publishes: [], parameters: ["path"]) { parameters, resources, _ in
        let given = parameters.string("path", default: "/dev/null") ?? "/dev/null"
        var problem: String?
        guard let path = resources.outputPath(given, problem: &problem) else {
            parameters.error(nil, "Logger 'path': \(problem ?? "")")
            return nil
        }
        return NFPreparation {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            return try Logger(path: path)
        }
    }
}

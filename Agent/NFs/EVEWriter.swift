import Atomics
import Foundation
import MBoxCapture
import MBoxConcurrency
import MBoxDataPath
import MBoxEvents
import MBoxFlow
import MBoxPacket
import MBoxRules

/// An alert's flow as EVE reports it: the source is the sender of the packet that raised it.
public struct AlertFlow {
    public let source: String
    public let sourcePort: Int
    public let destination: String
    public let destinationPort: Int
    /// "TCP", "UDP", "ICMP" or the protocol number.
    public let proto: String

    public init(_ event: Event, _ key: FlowKey) {
        let toServer = event.cause == .client
        source = "\(toServer ? key.client : key.server)"
        sourcePort = Int(toServer ? key.clientPort : key.serverPort)
        destination = "\(toServer ? key.server : key.client)"
        destinationPort = Int(toServer ? key.serverPort : key.clientPort)
        proto = key.ipProtocol == 6 ? "TCP" : key.ipProtocol == 17 ? "UDP" : key.ipProtocol == 1 ? "ICMP" : "\(key.ipProtocol)"
    }
}

extension Rule {
    /// EVE's `alert.action`: what the rule does to the packet.
    public var eveAction: String { action == .drop || action == .reject ? "blocked" : "allowed" }
}

/// Suricata EVE JSON lines (`event_type: "alert"` and `"anomaly"`), so jq, Elastic and
/// Wazuh read them unchanged. The file is written by a thread of its own (`FileSink`):
/// each worker writes through an `EVEChannel` of its own — formatting into its buffer,
/// handing the buffer over between bursts — so no worker blocks on the file or shares a
/// lock with another.
public final class EVEWriter: Sendable {
    private let sink: FileSink
    private let alertLines = ManagedAtomic<UInt64>(0)
    private let anomalyLines = ManagedAtomic<UInt64>(0)
    /// Whether `anomaly` records are wanted (`--eve-anomalies`).
    public let logsAnomalies: Bool

    /// Opens `path` in place (`/dev/stdout`, a FIFO and a symlink stay what they are).
    public init(path: String, anomalies: Bool = false) throws {
        sink = FileSink(handle: try OutputFile.open(path), path: path)
        logsAnomalies = anomalies
    }

    /// Alert lines written so far (every channel's).
    public var written: Int { Int(alertLines.load(ordering: .relaxed)) }
    /// Anomaly lines written so far.
    public var anomaliesWritten: Int { Int(anomalyLines.load(ordering: .relaxed)) }

    /// A channel for one thread (a worker): its lines reach the file in the order it wrote them.
    public func channel() -> EVEChannel {
        EVEChannel(producer: sink.producer(), writer: self)
    }

    /// Returns once everything the channels submitted is in the file; throws the first write error.
    public func flush() throws { try sink.flush() }

    fileprivate func counted(alerts: Int, anomalies: Int) {
        if alerts > 0 { alertLines.wrappingIncrement(by: UInt64(alerts), ordering: .relaxed) }
        if anomalies > 0 { anomalyLines.wrappingIncrement(by: UInt64(anomalies), ordering: .relaxed) }
    }

    /// One EVE line for an `IDS_ALERT` event about `key`'s flow.
    public static func line(alert event: Event, rule: Rule, key: FlowKey, transaction: String? = nil,
                            tunnel: TunnelEndpoints? = nil) -> String {
        let flow = AlertFlow(event, key)
        let toServer = event.cause == .client
        var fields: [String] = [
            "\"timestamp\":\"\(timestamp(event.timestamp))\"",
            "\"flow_id\":\(event.flowID)",
            "\"event_type\":\"alert\"",
            "\"src_ip\":\"\(flow.source)\"", "\"src_port\":\(flow.sourcePort)",
            "\"dest_ip\":\"\(flow.destination)\"", "\"dest_port\":\(flow.destinationPort)",
            "\"proto\":\"\(flow.proto)\"",
        ]
        if let app = event.detail.appProtocol { fields.append("\"app_proto\":\"\(app)\"") }
        fields.append("\"direction\":\"\(toServer ? "to_server" : "to_client")\"")
        fields.append("\"alert\":{\"action\":\"\(rule.eveAction)\",\"gid\":\(rule.gid),\"signature_id\":\(rule.sid),"
            + "\"rev\":\(rule.rev),\"signature\":\(quoted(rule.message)),\"category\":\(quoted(rule.category)),"
            + "\"severity\":\(rule.priority)" + metadata(rule) + "}")
        if let tunnel { fields.append(tunnelObject(tunnel)) }
        if let transaction { fields.append(transaction) }
        return "{" + fields.joined(separator: ",") + "}"
    }

    /// What Suricata's EVE shows of an alert's transaction: `"http":{"hostname","url",
    /// "http_user_agent","http_method","protocol","status"}`, `"tls":{"sni"}`,
    /// `"dns":{"query":[{"rrname"}]}` (the fields the parsers filled).
    public static func transactionFields(_ buffers: AppBuffers) -> String {
        func text(_ buffer: InspectionBuffer) -> String? {
            buffers[buffer].first.map { quoted(String(decoding: $0, as: UTF8.self)) }
        }
        var fields: [String] = []
        switch buffers.protocolName {
        case .http:
            for (name, buffer) in [("hostname", InspectionBuffer.httpHostRaw), ("url", .httpURIRaw),
                                   ("http_user_agent", .httpUserAgent), ("http_method", .httpMethod), ("protocol", .httpProtocol)] {
                if let value = text(buffer) { fields.append("\"\(name)\":\(value)") }
            }
            if let status = buffers[.httpStatCode].first.flatMap({ Int(String(decoding: $0, as: UTF8.self)) }) {
                fields.append("\"status\":\(status)")
            }
            return "\"http\":{" + fields.joined(separator: ",") + "}"
        case .tls:
            if let sni = text(.tlsSNI) { fields.append("\"sni\":\(sni)") }
            return "\"tls\":{" + fields.joined(separator: ",") + "}"
        case .dns:
            let queries = buffers[.dnsQuery].map { "{\"type\":\"query\",\"rrname\":" + quoted(String(decoding: $0, as: UTF8.self)) + "}" }
            return "\"dns\":{\"query\":[" + queries.joined(separator: ",") + "]}"
        default:
            return "\"\(buffers.protocolName)\":{}"
        }
    }

    /// `"metadata":{"key":["value",…]}` from the rule's `metadata` entries, as Suricata 7 writes it.
    static func metadata(_ rule: Rule) -> String {
        guard !rule.metadata.isEmpty else { return "" }
        var keys: [String] = []
        var values: [String: [String]] = [:]
        for entry in rule.metadata {
            let parts = entry.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            if values[parts[0]] == nil { keys.append(parts[0]) }
            values[parts[0], default: []].append(parts[1].trimmingCharacters(in: .whitespaces))
        }
        guard !keys.isEmpty else { return "" }
        return ",\"metadata\":{" + keys.map { key in
            quoted(key) + ":[" + values[key]!.map(quoted).joined(separator: ",") + "]"
        }.joined(separator: ",") + "}"
    }

    /// Suricata 7's `tunnel` object: the outermost tunnel's header and how deep the flow is.
    static func tunnelObject(_ tunnel: TunnelEndpoints) -> String {
        let proto: String
        switch tunnel.ipProtocol {
        case 6: proto = "TCP"
        case 17: proto = "UDP"
        case 47: proto = "GRE"
        case 4: proto = "IPIP"
        case 41: proto = "IPv6"
        default: proto = "\(tunnel.ipProtocol)"
        }
        var fields = ["\"src_ip\":\"\(tunnel.source)\""]
        if tunnel.ipProtocol == 6 || tunnel.ipProtocol == 17 { fields.append("\"src_port\":\(tunnel.sourcePort)") }
        fields.append("\"dest_ip\":\"\(tunnel.destination)\"")
        if tunnel.ipProtocol == 6 || tunnel.ipProtocol == 17 { fields.append("\"dest_port\":\(tunnel.destinationPort)") }
        fields += ["\"proto\":\"\(proto)\"", "\"depth\":\(tunnel.depth)"]
        return "\"tunnel\":{" + fields.joined(separator: ",") + "}"
    }

    /// EVE `anomaly` records for the packet `dataPath` just processed (one line per anomaly),
    /// as Suricata's anomaly logger writes them for its `decode` and `stream` types.
    public static func anomalyLines(of dataPath: DataPath, timestamp: UInt64) -> [String] {
        let headers = dataPath.headers.pointee
        let addressed = headers.ipVersion != 0 && (dataPath.malformed?.isTransportLevel ?? true)
        return dataPath.lastPacketAnomalies.map { anomaly in
            var fields = ["\"timestamp\":\"\(Self.timestamp(timestamp))\"", "\"event_type\":\"anomaly\""]
            if addressed {
                let proto = headers.ipProtocol == 6 ? "TCP" : headers.ipProtocol == 17 ? "UDP" : headers.ipProtocol == 1 ? "ICMP" : "\(headers.ipProtocol)"
                // A fragment's ports are not known: Suricata writes 0 for IPv4, and for IPv6
                // the fragment header as the protocol, without ports.
                let fragment = !dataPath.anomalies.isDisjoint(with: [.fragmentOverlap, .fragmentTiny, .fragmentInvalid, .fragmentDropped])
                fields += ["\"src_ip\":\"\(headers.source)\""]
                if !(fragment && headers.ipVersion == 6) { fields.append("\"src_port\":\(fragment ? 0 : headers.sourcePort)") }
                fields += ["\"dest_ip\":\"\(headers.destination)\""]
                if !(fragment && headers.ipVersion == 6) { fields.append("\"dest_port\":\(fragment ? 0 : headers.destinationPort)") }
                fields.append("\"proto\":\"\(fragment && headers.ipVersion == 6 ? "IPv6-Frag" : proto)\"")
            }
            fields.append("\"anomaly\":{\"type\":\"\(anomaly.type)\",\"event\":\"\(anomaly.event)\"}")
            return "{" + fields.joined(separator: ",") + "}"
        }
    }

    /// Suricata's timestamp form: 2023-11-14T22:13:20.123456+0000 (UTC).
    static func timestamp(_ nanoseconds: UInt64) -> String {
        var seconds = time_t(nanoseconds / 1_000_000_000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%06d+0000", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec),
                      Int(nanoseconds % 1_000_000_000 / 1000))
    }

    static func quoted(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 { result += String(format: "\\u%04x", scalar.value) } else { result.unicodeScalars.append(scalar) }
            }
        }
        return result + "\""
    }
}

/// One thread's way into an EVE file: lines are formatted into the channel's buffer and
/// handed to the file's writer thread by `submit()` (the runtime calls it between bursts).
public final class EVEChannel {
    private let producer: FileSink.Producer
    private let writer: EVEWriter

    fileprivate init(producer: FileSink.Producer, writer: EVEWriter) {
        self.producer = producer
        self.writer = writer
    }

    /// Whether the file wants `anomaly` records.
    public var logsAnomalies: Bool { writer.logsAnomalies }

    /// One alert line for an `IDS_ALERT` event about `key`'s flow.
    public func write(alert event: Event, rule: Rule, key: FlowKey, transaction: String? = nil, tunnel: TunnelEndpoints? = nil) {
        producer.append(contentsOf: EVEWriter.line(alert: event, rule: rule, key: key, transaction: transaction, tunnel: tunnel).utf8)
        producer.append(contentsOf: CollectionOfOne(UInt8(ascii: "\n")))
        writer.counted(alerts: 1, anomalies: 0)
    }

    /// The `anomaly` lines of the packet `dataPath` just processed.
    public func writeAnomalies(of dataPath: DataPath, timestamp: UInt64) {
        let lines = EVEWriter.anomalyLines(of: dataPath, timestamp: timestamp)
        for line in lines {
            producer.append(contentsOf: line.utf8)
            producer.append(contentsOf: CollectionOfOne(UInt8(ascii: "\n")))
        }
        writer.counted(alerts: 0, anomalies: lines.count)
    }

    /// Hands the lines written so far to the file's thread.
    public func submit() { producer.submit() }

    /// Hands the lines over and waits until the file has them; throws the first write error.
    public func flush() throws {
        producer.submitAll()
        try writer.flush()
    }
}

import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import MBoxControlPlane
import MBoxProto

struct Alerts: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Query alerts collected from every agent, or follow them live.",
        discussion: "-o json prints Suricata EVE alert lines (with \"host\": the agent), for jq and SIEMs.")

    @Flag(name: .shortAndLong, help: "Keep printing new alerts as agents report them (Ctrl-C stops).")
    var follow = false

    @Option(help: "Only this agent's alerts.")
    var agent: String?

    @Option(help: "Only alerts since: a duration ago (30s, 10m, 2h, 1d) or a time (2026-11-26T20:00:00Z).")
    var since: String?

    @Option(help: "Only this signature id.")
    var sid: UInt32?

    @Option(help: "Only flows with this address at either end.")
    var ip: String?

    @Option(help: "At most this many stored alerts (the newest).")
    var limit: UInt32 = 1000

    @OptionGroup var format: OutputFormat

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        if let since { _ = try Self.parseSince(since) }
    }

    /// Every alert the query's limit asks for, page by page (each answer stays far below
    /// the message limit), oldest first.
    static func query(_ request: Mbox_V1_AlertQuery,
                      _ service: Mbox_V1_OperatorService.Client<HTTP2ClientTransport.Posix>) async throws -> [Mbox_V1_Alert] {
        var pages: [[Mbox_V1_Alert]] = []
        var request = request
        var remaining = Int(request.limit == 0 ? 1000 : request.limit)
        while remaining > 0 {
            request.limit = UInt32(remaining)
            let response = try await service.queryAlerts(request, options: ConnectionOptions.deadline)
            pages.append(response.alerts)
            remaining -= response.alerts.count
            guard !response.nextPage.isEmpty, !response.alerts.isEmpty else { break }
            request.page = response.nextPage
        }
        // Each page is older than the one before it.
        return pages.reversed().flatMap { $0 }
    }

    static func parseSince(_ text: String) throws -> Int64 {
        if let seconds = Age.seconds(text) { return Int64((Date().timeIntervalSince1970 - seconds) * 1_000_000) }
        if let date = ISO8601DateFormatter().date(from: text) { return Int64(date.timeIntervalSince1970 * 1_000_000) }
        throw ValidationError("--since '\(text)' is neither a duration (10m) nor an ISO 8601 time")
    }

    func run() async throws {
        var query = Mbox_V1_AlertQuery()
        query.agent = agent ?? ""
        query.sid = sid ?? 0
        query.ip = ip ?? ""
        query.limit = limit
        if let since { query.sinceUnixUs = try Self.parseSince(since) }
        let json = format.json
        let request = query
        if follow {
            // Unbuffered, like the rows: a follow runs until interrupted.
            if !json { FileHandle.standardOutput.write(Data((AlertFormat.header + "\n").utf8)) }
            try await connection.withOperator { service in
                try await service.followAlerts(request) { response in
                    for try await alert in response.messages {
                        FileHandle.standardOutput.write(Data(((json ? EVE.line(alert) : AlertFormat.row(alert)) + "\n").utf8))
                    }
                }
            }
            return
        }
        let alerts = try await connection.withOperator { try await Self.query(request, $0) }
        if json {
            alerts.forEach { print(EVE.line($0)) }
        } else {
            print(AlertFormat.header)
            alerts.forEach { print(AlertFormat.row($0)) }
        }
    }
}

enum AlertFormat {
    static let header = pad(["TIME", "AGENT", "SID", "ACTION", "FLOW", "SIGNATURE"])

    static func pad(_ columns: [String]) -> String {
        let widths = [26, 12, 9, 8, 46]
        return columns.enumerated().map { $0 < widths.count ? $1.padding(toLength: max(widths[$0], $1.count), withPad: " ", startingAt: 0) : $1 }
            .joined(separator: " ")
    }

    static func row(_ alert: Mbox_V1_Alert) -> String {
        let flow = "\(alert.flow.proto) \(alert.flow.srcIp):\(alert.flow.srcPort) -> \(alert.flow.destIp):\(alert.flow.destPort)"
        return pad([EVE.timestamp(alert.timestampUs), alert.agent, "\(alert.sid)", alert.action, flow, alert.signature])
    }
}

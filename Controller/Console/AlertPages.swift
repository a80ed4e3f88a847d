import Foundation
import MBoxControlPlane
import MBoxControllerCore
import MBoxProto

extension ConsolePages {
    /// The newest alerts matching the filters (100 a page, older pages by cursor), with each
    /// alert's EVE record; new ones are added live (`/alerts/stream`) while on the first page.
    func alerts(_ parameters: [String: String]) async throws -> ConsoleResponse {
        var query = try Self.alertQuery(parameters)
        query.limit = 100
        query.page = parameters["page"] ?? ""
        let page: Mbox_V1_QueryAlertsResponse
        do { page = try await controller.alertPage(query) } catch let error as StoreError { throw ConsoleInputError(error.description) }
        let filters = parameters.filter { $0.key != "page" }
        let filterQuery = filters.sorted { $0.key < $1.key }.map { "\($0.key)=\(HTML.urlComponent($0.value))" }.joined(separator: "&")
        let live = query.page.isEmpty && query.untilUnixUs == 0
        // The stream starts from the newest alert shown (or now), so none stored meanwhile is missed.
        let from = page.alerts.last?.timestampUs ?? Int64(Date().timeIntervalSince1970 * 1_000_000)
        let rows = page.alerts.reversed().map { alert in
            AlertRow.cells(alert).map { HTML.escape($0) } + [
                "<details><summary>EVE</summary><pre class=\"eve\">\(HTML.escape(EVE.line(alert, pretty: true)))</pre></details>",
            ]
        }
        let older = page.nextPage.isEmpty ? "" :
            "<p><a id=\"older\" href=\"/alerts?\(filterQuery)\(filterQuery.isEmpty ? "" : "&")page=\(HTML.urlComponent(page.nextPage))\">Older alerts</a></p>"
        func field(_ name: String, _ label: String, _ placeholder: String) -> String {
            "<label>\(label) <input name=\"\(name)\" value=\"\(HTML.escape(parameters[name] ?? ""))\" placeholder=\"\(placeholder)\"></label>"
        }
        let body = """
            <h1>Alerts</h1>
            <form class="filters" action="/alerts" method="get">
            \(field("agent", "Agent", "edge-1")) \(field("sid", "SID", "2100498")) \(field("ip", "IP", "10.0.0.1"))
            \(field("since", "Since", "10m or 2026-11-29T20:00Z")) \(field("until", "Until", "2026-11-29T21:00Z"))
            <button type="submit">Filter</button> <a href="/alerts">Clear</a></form>
            <p class="summary">\(live ? "<span id=\"live\" class=\"ok\">live</span> newest first; new alerts appear as agents report them." : "A past page, newest first.")</p>
            \(HTML.table(id: "alerts", AlertRow.header + ["EVE"], rows,
                         rowAttributes: page.alerts.reversed().map { "data-key=\"\(HTML.escape(AlertRow.key($0)))\"" }))
            \(older)
            \(live ? "<div id=\"alert-stream\" data-source=\"/alerts/stream?\(HTML.escape(filterQuery + (filterQuery.isEmpty ? "" : "&") + "from=\(from)"))\"></div>" : "")
            """
        return layout("Alerts", current: "/alerts", body)
    }

    /// Server-sent events: alerts matching the filters stored since `from` (microseconds; the
    /// page's newest), then each new one, as `alert` events (see `alertEvent`);
    /// `: keepalive` every 15 s; an `end` event if the reader fell behind.
    func alertStream(_ parameters: [String: String]) async throws -> ConsoleResponse {
        let query = try Self.alertQuery(parameters)
        let controller = self.controller
        // Subscribe first, then read what was stored since the page: nothing falls between.
        let (alerts, id) = await controller.follow(query, buffer: 10_000)
        var since = query
        since.sinceUnixUs = max(query.sinceUnixUs, Int64(parameters["from"] ?? "") ?? 0)
        since.limit = 1000
        let backlog = since.sinceUnixUs == 0 ? [] : ((try? await controller.alerts(since)) ?? [])
        let (events, continuation) = AsyncStream.makeStream(of: String.self, bufferingPolicy: .bufferingOldest(2048))
        let forward = Task {
            continuation.yield("retry: 2000\n\n")
            var sent = Set<String>()
            for alert in backlog {
                sent.insert(AlertRow.key(alert))
                continuation.yield(Self.alertEvent(alert))
            }
            for await alert in alerts where !sent.contains(AlertRow.key(alert)) {
                // A reader this far behind is told and ended (it reloads), never fed silently less.
                if case .dropped = continuation.yield(Self.alertEvent(alert)) { break }
            }
            continuation.yield("event: end\ndata: the page fell behind the alerts; reload it\n\n")
            continuation.finish()
        }
        let heartbeat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(15))
                continuation.yield(": keepalive\n\n")
            }
        }
        continuation.onTermination = { _ in
            forward.cancel()
            heartbeat.cancel()
            Task { await controller.unfollow(id) }
        }
        return ConsoleResponse(contentType: "text/event-stream", body: .events(events))
    }

    /// An `alert` event: its key (agent/spool/sequence) on the first data line, then its EVE
    /// record as text (64-bit ids stay exact: the page shows the text, not a parsed number).
    static func alertEvent(_ alert: Mbox_V1_Alert) -> String {
        let lines = [AlertRow.key(alert)] + EVE.line(alert, pretty: true).split(separator: "\n").map(String.init)
        return "event: alert\n" + lines.map { "data: " + $0 + "\n" }.joined() + "\n"
    }

    /// The filters of `/alerts` as a query; a value it cannot read is an error, not ignored.
    static func alertQuery(_ parameters: [String: String]) throws -> Mbox_V1_AlertQuery {
        var query = Mbox_V1_AlertQuery()
        query.agent = parameters["agent"] ?? ""
        query.ip = parameters["ip"] ?? ""
        if let sid = parameters["sid"] {
            guard let value = UInt32(sid) else { throw ConsoleInputError("SID '\(sid)' is not a signature id") }
            query.sid = value
        }
        if let since = parameters["since"] { query.sinceUnixUs = try time(since, "Since", durationAgo: true) }
        if let until = parameters["until"] { query.untilUnixUs = try time(until, "Until", durationAgo: false) }
        return query
    }

    /// An ISO 8601 time (`2026-11-29T20:00:00Z`; without a zone, or as a browser's
    /// datetime-local, UTC) or, for `since`, a duration ago (30s, 10m, 2h, 1d).
    static func time(_ text: String, _ label: String, durationAgo: Bool) throws -> Int64 {
        if durationAgo, let seconds = Age.seconds(text) { return Int64((Date().timeIntervalSince1970 - seconds) * 1_000_000) }
        let formatter = ISO8601DateFormatter()
        var candidates = [text, text + "Z", text + ":00Z"]
        if text.hasSuffix("Z") { candidates.append(String(text.dropLast()) + ":00Z") }
        for candidate in candidates {
            if let date = formatter.date(from: candidate) { return Int64(date.timeIntervalSince1970 * 1_000_000) }
        }
        throw ConsoleInputError("\(label) '\(text)' is not a time like 2026-11-29T20:00:00Z\(durationAgo ? " or a duration like 10m" : "")")
    }
}

/// An alert as a table row, the same cells `mboxctl alerts` prints (console.js builds live
/// rows from the EVE line the same way).
enum AlertRow {
    static let header = ["TIME", "AGENT", "SID", "ACTION", "FLOW", "SIGNATURE"]

    static func cells(_ alert: Mbox_V1_Alert) -> [String] {
        [EVE.timestamp(alert.timestampUs), alert.agent, "\(alert.sid)", alert.action,
         "\(alert.flow.proto) \(alert.flow.srcIp):\(alert.flow.srcPort) -> \(alert.flow.destIp):\(alert.flow.destPort)", alert.signature]
    }

    /// Unique per stored alert: agent, spool, sequence.
    static func key(_ alert: Mbox_V1_Alert) -> String { "\(alert.agent)/\(alert.spoolID)/\(alert.sequence)" }
}

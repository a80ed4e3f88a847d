import Foundation
import MBoxControlPlane
import MBoxControllerCore
import MBoxProto

/// The pages behind a signed-in operator: one method per page, each reading the
/// controller as `mboxctl` does.
struct ConsolePages: Sendable {
    let controller: Controller
    let `operator`: String

    static var nowMs: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    func layout(_ title: String, current: String, _ body: String) -> ConsoleResponse {
        .page(HTML.layout(title: title, operator: self.operator, current: current, body: body))
    }

    /// The fleet: every agent with the columns of `mboxctl get agents`, refreshed every 5 s.
    func fleet() async throws -> ConsoleResponse {
        let agents = try await controller.agents()
        let now = Self.nowMs
        let rows = agents.map { agent -> [String] in
            let stats = agent.stats
            return [
                "<a href=\"/agents/\(HTML.urlComponent(agent.name))\">\(HTML.escape(agent.name))</a>",
                HTML.escape(Labels.format(agent.labels)),
                agent.connected ? "<span class=\"ok\">yes</span>" : "<span class=\"bad\">no</span>",
                agent.chain.isEmpty ? "-" : "<a href=\"/chains/\(HTML.urlComponent(agent.chain))\">\(HTML.escape(agent.chain))</a>",
                "\(agent.desiredVersion)", "\(agent.appliedVersion)", "\(stats.packets)", "\(stats.dropped)",
                "\(stats.portMissed + stats.portNoMbuf)", "\(stats.alerts)", "\(stats.spoolPending)",
                Age.text(milliseconds: now - agent.lastSeenUnixMs), HTML.escape(agent.applyError),
            ]
        }
        let connected = agents.filter(\.connected).count
        let behind = agents.filter { $0.appliedVersion != $0.desiredVersion }.count
        let body = """
            <h1>Fleet</h1>
            <p class="summary"><span id="agent-count">\(agents.count)</span> agents, \(connected) connected, \(behind) not yet on their desired config.</p>
            <div data-refresh="5">
            \(HTML.table(id: "fleet", ["NAME", "LABELS", "CONNECTED", "CHAIN", "DESIRED", "APPLIED", "PACKETS", "DROPPED", "MISSED", "ALERTS",
                                      "SPOOLED", "LAST SEEN", "ERROR"], rows,
                         rowAttributes: agents.map { "data-agent=\"\(HTML.escape($0.name))\"" }))
            </div>
            """
        return layout("Fleet", current: "/", body)
    }

    /// One agent: its record, and its statistics over the last hour as charts.
    func agent(named name: String) async throws -> ConsoleResponse {
        guard let agent = try await controller.agents().first(where: { $0.name == name }) else {
            return .problem(.notFound, "No such agent", "No agent named '\(name)' has registered.")
        }
        let samples = try await controller.samples(agent: name)
        let stats = agent.stats
        let facts: [(String, String)] = [
            ("Labels", Labels.format(agent.labels)), ("Connected", agent.connected ? "yes" : "no"),
            ("Chain", agent.chain.isEmpty ? "-" : agent.chain), ("Desired version", "\(agent.desiredVersion)"),
            ("Applied version", "\(agent.appliedVersion)"), ("Software", agent.softwareVersion),
            ("Capabilities", agent.capabilities.joined(separator: ", ")), ("Packets", "\(stats.packets)"),
            ("Bytes", "\(stats.bytes)"), ("Flows", "\(stats.flows)"), ("Alerts", "\(stats.alerts)"),
            ("Dropped", "\(stats.dropped)"), ("Malformed", "\(stats.malformed)"),
            ("Missed by the ports", "\(stats.portMissed + stats.portNoMbuf)"), ("Alerts spooled", "\(stats.spoolPending)"),
            ("Last seen", Age.text(milliseconds: Self.nowMs - agent.lastSeenUnixMs) + " ago"), ("Error", agent.applyError),
        ]
        let list = facts.map { "<dt>\(HTML.escape($0))</dt><dd>\(HTML.escape($1))</dd>" }.joined()
        let now = Self.nowMs
        let charts = [
            Chart.rate(id: "chart-packets", title: "Packets per second", samples, until: now, \.packets),
            Chart.rate(id: "chart-alerts", title: "Alerts per second", samples, until: now, \.alerts),
            Chart.rate(id: "chart-dropped", title: "Dropped and missed per second", samples, until: now) {
                $0.dropped + $0.portMissed + $0.portNoMbuf
            },
        ].joined(separator: "\n")
        let body = """
            <h1>Agent \(HTML.escape(agent.name))</h1>
            <dl class="facts">\(list)</dl>
            <h2>The last hour</h2>
            <p class="summary"><span id="sample-count">\(samples.count)</span> samples (one per \(HistoryPolicy.sampleIntervalMs / 1000) s while connected).</p>
            \(charts)
            <p><a href="/alerts?agent=\(HTML.urlComponent(agent.name))">This agent's alerts</a></p>
            """
        return layout("Agent \(agent.name)", current: "", body)
    }
}

/// The page shown without a valid token.
enum SignInPage {
    static func render(message: String?) -> String {
        HTML.layout(title: "Sign in", body: """
            <h1>Sign in</h1>
            \(message.map { "<p class=\"bad\">\(HTML.escape($0))</p>" } ?? "")
            <p>Ask the controller for a console token with your operator certificate, then open the link it prints:</p>
            <pre>mboxctl console-token</pre>
            <form action="/login" method="get"><label>Token <input name="token" type="password" autocomplete="off"></label>
            <button type="submit">Sign in</button></form>
            """)
    }
}

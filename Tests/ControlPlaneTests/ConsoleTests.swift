import Foundation
import MBoxTrafficGen
import Testing

/// The web console in headless Chromium, with a controller and real agents as processes
/// behind it: what each page shows is checked against what `mboxctl` says, and each page
/// is photographed (`.build/console-screenshots`, or MBOX_SCREENSHOTS).
@Suite("Web console: pages in headless Chromium against mboxctl", .serialized)
struct ConsoleTests {
    typealias Fleet = FleetTests.Fleet

    /// The fleet's controller serving the console; its base URL.
    static func consoleURL(_ fleet: Fleet) async throws -> String {
        let line = try #require(await fleet.controller.line(containing: "console at https://"), "\(fleet.controller.log)")
        let url = try #require(line.components(separatedBy: "console at ").last?.trimmingCharacters(in: .whitespaces))
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    /// The ids-edge chain and its rules in `policy/`, as an operator keeps them.
    static func writePolicy(_ scratch: ScratchDirectory, description: String? = nil) throws -> String {
        try FileManager.default.createDirectory(atPath: scratch.file("policy"), withIntermediateDirectories: true)
        try String(contentsOfFile: packageRoot + "/rules/web-attacks.rules", encoding: .utf8)
            .write(toFile: scratch.file("policy/web.rules"), atomically: true, encoding: .utf8)
        var chain = try String(contentsOfFile: packageRoot + "/chains/fleet/ids-edge.yaml", encoding: .utf8)
            .replacingOccurrences(of: "../../rules/web-attacks.rules", with: "web.rules")
        if let description {
            chain = chain.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.hasPrefix("description:") ? "description: \(description)" : String($0) }.joined(separator: "\n")
        }
        try chain.write(toFile: scratch.file("policy/ids-edge.yaml"), atomically: true, encoding: .utf8)
        return scratch.file("policy/ids-edge.yaml")
    }

    static func capture(_ fleet: Fleet, _ name: String, seed: UInt64) throws -> [String] {
        var profile = TrafficProfile(seed: seed, flows: 200, attack: "UNION SELECT", attackShare: 0.3)
        profile.attackSegments = 2
        try generate(profile, to: fleet.scratch.file("\(name).pcap"))
        return ["--pcap", fleet.scratch.file("\(name).pcap")]
    }

    /// EVE lines from `mboxctl alerts -o json` once their count stops changing.
    static func settledAlerts(_ fleet: Fleet, agent: String) async throws -> [String] {
        var lines: [String] = []
        var previous = -1
        _ = try await eventually(seconds: 60) {
            try await Task.sleep(for: .seconds(1))
            lines = try await fleet.ctl(["alerts", "-o", "json", "--agent", agent, "--limit", "100000"]).split(separator: "\n").map(String.init)
            defer { previous = lines.count }
            return !lines.isEmpty && lines.count == previous
        }
        return lines
    }

    static func json(_ line: some StringProtocol) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test("Fleet, chains, a chain's history with its diff, and an agent's page show what mboxctl shows")
    func pagesMatchMboxctl() async throws {
        let fleet = try await Fleet(agents: ["edge-1", "edge-2"], controllerArguments: ["--console", "127.0.0.1:0"])
        defer { fleet.controller.stop() }
        let base = try await Self.consoleURL(fleet)
        var agents: [Launched] = []
        defer { agents.forEach { $0.stop() } }
        for (index, name) in ["edge-1", "edge-2"].enumerated() {
            agents.append(try await fleet.agent(name, source: try Self.capture(fleet, name, seed: UInt64(70 + index)),
                                                labels: "role=ids,site=\(index + 1)"))
        }
        _ = try await fleet.ctl(["apply", "-f", try Self.writePolicy(fleet.scratch)])
        for name in ["edge-1", "edge-2"] { _ = try await Self.settledAlerts(fleet, agent: name) }
        let second = try await fleet.ctl(["apply", "-f", try Self.writePolicy(fleet.scratch, description: "Tuned after review.")])
        #expect(second.contains("configured, revision"))
        // Both agents on the new revision, and their statistics reported since.
        let settled = try await eventually(seconds: 30) {
            let rows = try await fleet.ctl(["get", "agents", "-o", "json"]).split(separator: "\n").map(Self.json)
            return rows.count == 2 && rows.allSatisfy { ($0["applied_version"] as? Int) == ($0["desired_version"] as? Int) && ($0["applied_version"] as? Int ?? 0) >= 2 }
        }
        try #require(settled)
        try await Task.sleep(for: .seconds(3))

        let token = try await fleet.ctl(["console-token", "--ttl", "10m"]).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(token.hasPrefix("mbox_"))
        let browser = try Browser()
        defer { browser.close() }

        // Without the token: the sign-in page, 401.
        _ = try await browser.goto(base + "/chains")
        #expect(try await browser.string("document.querySelector('h1').innerText") == "Sign in")
        // Signed in: the fleet page, the token gone from the address bar.
        let landed = try await browser.goto(base + "/login?token=" + token)
        #expect(landed == base + "/")
        let fleetRows = try await browser.tableRows("fleet")
        let listed = try await fleet.ctl(["get", "agents", "-o", "json"]).split(separator: "\n").map(Self.json)
        try #require(fleetRows.count == listed.count, "\(fleetRows)")
        for (row, agent) in zip(fleetRows, listed) {
            let stats = try #require(agent["stats"] as? [String: Any])
            let labels = (agent["labels"] as? [String: String] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            // NAME LABELS CONNECTED CHAIN DESIRED APPLIED PACKETS DROPPED MISSED ALERTS SPOOLED
            #expect(Array(row.prefix(11)) == [
                agent["name"] as? String ?? "", labels, (agent["connected"] as? Bool ?? false) ? "yes" : "no", agent["chain"] as? String ?? "",
                "\(agent["desired_version"] ?? "")", "\(agent["applied_version"] ?? "")", "\(stats["packets"] ?? "")",
                "\(stats["dropped"] ?? "")", "\((stats["port_missed"] as? Int ?? 0) + (stats["port_no_mbuf"] as? Int ?? 0))",
                "\(stats["alerts"] ?? "")", "\(stats["spool_pending"] ?? "")",
            ], "the fleet table's row for \(agent["name"] ?? "?") against mboxctl get agents")
        }
        #expect(try await browser.screenshot(screenshotDirectory + "/fleet.png") > 10_000)

        // Chains: the table against mboxctl get chains.
        _ = try await browser.goto(base + "/chains")
        let chainRows = try await browser.tableRows("chains")
        let chains = try await fleet.ctl(["get", "chains", "-o", "json"]).split(separator: "\n").map(Self.json)
        try #require(chainRows.count == chains.count && chainRows.count == 1, "\(chainRows)")
        #expect(chainRows[0][0] == "ids-edge" && chainRows[0][1] == "role=ids" && chainRows[0][2] == "web.rules")
        #expect(chainRows[0][3] == "\(chains[0]["revision"] ?? "")" && chainRows[0][5] == "2")
        #expect(try await browser.screenshot(screenshotDirectory + "/chains.png") > 10_000)

        // One chain: its revisions against mboxctl history, the diff against mboxctl history --diff.
        _ = try await browser.goto(base + "/chains/ids-edge")
        let revisionRows = try await browser.tableRows("revisions")
        let history = try await fleet.ctl(["history", "ids-edge", "-o", "json"]).split(separator: "\n").map(Self.json)
        #expect(revisionRows.map { $0[0] } == history.reversed().map { "\($0["revision"] ?? "")" })
        #expect(revisionRows.allSatisfy { $0[2] == "apply" && $0[3] == "alice" })
        let newest = "\(history.last?["revision"] ?? "")"
        let diffText = try #require(try await browser.string("document.getElementById('diff').innerText"))
        let changed = diffText.split(separator: "\n").filter { $0.hasPrefix("+") || $0.hasPrefix("-") }
        let unified = try await fleet.ctl(["history", "ids-edge", "--diff", newest]).split(separator: "\n")
            .filter { ($0.hasPrefix("+") || $0.hasPrefix("-")) }
        #expect(!changed.isEmpty && changed == unified, "console diff \(changed) against mboxctl \(unified)")
        #expect(changed.contains("+description: Tuned after review."))
        #expect(try await browser.bool("document.getElementById('chain-yaml').innerText.includes('Tuned after review.')"))
        #expect(try await browser.screenshot(screenshotDirectory + "/chain.png") > 10_000)

        // An agent: its record and charts over stored samples.
        _ = try await browser.goto(base + "/agents/edge-1")
        let samples = Int(try await browser.string("document.getElementById('sample-count').innerText") ?? "") ?? 0
        #expect(samples >= 1)
        #expect(try await browser.int("document.querySelectorAll('figure.chart').length") == 3)
        #expect(try await browser.screenshot(screenshotDirectory + "/agent.png") > 10_000)

        // Signing out forgets the token in this browser.
        _ = try await browser.goto(base + "/logout")
        _ = try await browser.goto(base + "/")
        #expect(try await browser.string("document.querySelector('h1').innerText") == "Sign in")
    }

    @Test("An alert stored after the alerts page loaded appears on it live, with the EVE record mboxctl gives")
    func liveAlerts() async throws {
        let fleet = try await Fleet(agents: ["edge-1", "edge-2"], controllerArguments: ["--console", "127.0.0.1:0"])
        defer { fleet.controller.stop() }
        let base = try await Self.consoleURL(fleet)
        var agents: [Launched] = []
        defer { agents.forEach { $0.stop() } }
        agents.append(try await fleet.agent("edge-1", source: try Self.capture(fleet, "edge-1", seed: 80), labels: "role=ids"))
        _ = try await fleet.ctl(["apply", "-f", try Self.writePolicy(fleet.scratch)])
        let before = try await Self.settledAlerts(fleet, agent: "edge-1")
        try #require(!before.isEmpty)

        let token = try await fleet.ctl(["console-token"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let browser = try Browser()
        defer { browser.close() }
        let landed = try await browser.goto(base + "/login?token=\(token)&next=/alerts")
        #expect(landed == base + "/alerts")
        #expect(try await browser.wait(seconds: 15, for: "document.getElementById('live').innerText === 'live'"), "the event stream opened")
        let edge2Rows = "document.querySelectorAll('#alerts tbody tr[data-key^=\"edge-2/\"]').length"
        #expect(try await browser.int(edge2Rows) == 0)

        // A second agent joins after the page loaded: its alerts arrive while the page is open.
        agents.append(try await fleet.agent("edge-2", source: try Self.capture(fleet, "edge-2", seed: 81), labels: "role=ids"))
        let stored = try await Self.settledAlerts(fleet, agent: "edge-2")
        try #require(!stored.isEmpty && stored.count < 1000, "\(stored.count) alerts (the page keeps 1,000 rows)")
        let expectedKeys = try Set(stored.map { line -> String in
            let mbox = try #require(try Self.json(line)["mbox"] as? [String: Any])
            return "edge-2/\(mbox["spool_id"]!)/\(mbox["sequence"]!)"
        })
        #expect(try await browser.wait(seconds: 30, for: "\(edge2Rows) >= \(expectedKeys.count)"),
                "\(expectedKeys.count) live rows for edge-2")
        let shownKeys = try #require(try await browser.evaluate(
            "Array.from(document.querySelectorAll('#alerts tbody tr[data-key^=\"edge-2/\"]')).map(r => r.dataset.key)") as? [String])
        #expect(Set(shownKeys) == expectedKeys && shownKeys.count == expectedKeys.count, "each of edge-2's alerts once")

        // The newest live row's EVE record is the one mboxctl prints for that alert.
        let first = try #require(try await browser.evaluate(
            "(() => { const r = document.querySelector('#alerts tbody tr[data-key^=\"edge-2/\"]'); return [r.dataset.key, r.querySelector('pre.eve').textContent, Array.from(r.cells).slice(0, 6).map(c => c.innerText.trim())]; })()") as? [Any])
        let key = try #require(first[0] as? String)
        let shown = try Self.json(try #require(first[1] as? String))
        let line = try #require(stored.first { line in
            guard let mbox = (try? Self.json(line))?["mbox"] as? [String: Any] else { return false }
            return "edge-2/\(mbox["spool_id"]!)/\(mbox["sequence"]!)" == key
        })
        #expect(NSDictionary(dictionary: shown).isEqual(to: try Self.json(line)), "EVE on the page against mboxctl: \(shown) vs \(line)")
        let cells = try #require(first[2] as? [String])
        let eve = try Self.json(line)
        let alert = try #require(eve["alert"] as? [String: Any])
        #expect(cells[0] == eve["timestamp"] as? String && cells[1] == "edge-2" && cells[2] == "\(alert["signature_id"]!)")
        #expect(try await browser.screenshot(screenshotDirectory + "/alerts-live.png") > 10_000)

        // Filters: by SID, only that SID's alerts, as mboxctl filters them.
        let sid = "\(alert["signature_id"]!)"
        _ = try await browser.goto(base + "/alerts?sid=\(sid)&agent=edge-2")
        let filtered = try await browser.tableRows("alerts")
        let bySid = try await fleet.ctl(["alerts", "-o", "json", "--agent", "edge-2", "--sid", sid, "--limit", "100"]).split(separator: "\n")
        #expect(filtered.count == bySid.count && filtered.allSatisfy { $0[1] == "edge-2" && $0[2] == sid })
        _ = try await browser.goto(base + "/alerts?sid=notanumber")
        #expect(try await browser.string("document.querySelector('h1').innerText") == "Bad request")
    }
}

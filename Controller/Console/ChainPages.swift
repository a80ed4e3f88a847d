import MBoxControlPlane
import MBoxControllerCore
import MBoxProto

extension ConsolePages {
    /// Chains with the columns of `mboxctl get chains`, and how many agents run each.
    func chains() async throws -> ConsoleResponse {
        let chains = try await controller.chains()
        let agents = try await controller.agents()
        let now = Self.nowMs
        let rows = chains.map { chain -> [String] in
            let name = chain.spec.name
            return [
                "<a href=\"/chains/\(HTML.urlComponent(name))\">\(HTML.escape(name))</a>",
                HTML.escape(chain.spec.selector.isEmpty ? "(all agents)" : Labels.format(chain.spec.selector)),
                HTML.escape(chain.spec.ruleSets.map(\.name).joined(separator: ",")), "\(chain.revision)",
                Age.text(milliseconds: now - chain.updatedUnixMs), "\(agents.filter { $0.chain == name }.count)",
            ]
        }
        let body = """
            <h1>Chains</h1>
            \(HTML.table(id: "chains", ["NAME", "PLACEMENT", "RULE FILES", "REVISION", "UPDATED", "AGENTS"], rows,
                         rowAttributes: chains.map { "data-chain=\"\(HTML.escape($0.spec.name))\"" }))
            """
        return layout("Chains", current: "/chains", body)
    }

    /// A chain: its file, placement, the agents running it, its revisions, and what the
    /// chosen revision (the newest by default) changed from the one before.
    func chain(named name: String, revision chosen: UInt64?) async throws -> ConsoleResponse {
        let current = try await controller.chains().first { $0.spec.name == name }
        let history = (try? await controller.revisions(chain: name)) ?? []
        guard current != nil || !history.isEmpty else {
            return .problem(.notFound, "No such chain", "No chain named '\(name)' was ever applied.")
        }
        var sections: [String] = ["<h1>Chain \(HTML.escape(name))</h1>"]
        if let current {
            let running = try await controller.agents().filter { $0.chain == name }.map(\.name)
            let placement = current.spec.selector.isEmpty ? "(all agents)" : Labels.format(current.spec.selector)
            let files = current.spec.ruleSets.map { "\($0.name) (\($0.bytes) bytes)" }.joined(separator: ", ")
            sections.append("""
                <dl class="facts"><dt>Revision</dt><dd id="chain-revision">\(current.revision)</dd>
                <dt>Placement</dt><dd id="chain-placement">\(HTML.escape(placement))</dd>
                <dt>Rule files</dt><dd>\(HTML.escape(files.isEmpty ? "-" : files))</dd>
                <dt>Agents running it</dt><dd id="chain-agents">\(running.map { "<a href=\"/agents/\(HTML.urlComponent($0))\">\(HTML.escape($0))</a>" }.joined(separator: ", "))</dd></dl>
                <h2>Chain file</h2><pre id="chain-yaml">\(HTML.escape(current.spec.yaml))</pre>
                """)
        } else {
            sections.append("<p class=\"bad\">Deleted: no agent runs it. Its history follows.</p>")
        }
        sections.append(historySection(name, history, chosen: chosen))
        return layout("Chain \(name)", current: "/chains", sections.joined(separator: "\n"))
    }

    private func historySection(_ name: String, _ history: [Mbox_V1_ChainRevision], chosen: UInt64?) -> String {
        guard !history.isEmpty else { return "<h2>Revisions</h2><p>No revisions recorded (applied before this controller kept history).</p>" }
        let rows = history.reversed().map { revision -> [String] in
            [
                "<a href=\"/chains/\(HTML.urlComponent(name))?revision=\(revision.revision)\">\(revision.revision)</a>",
                EVE.timestamp(revision.timeUnixMs * 1000), HTML.escape(revision.action), HTML.escape(revision.operator),
                HTML.escape(String(revision.certificateSha256.prefix(16))),
                HTML.escape(revision.spec.ruleSets.map { "\($0.name) (\($0.bytes) bytes)" }.joined(separator: ", ")),
            ]
        }
        let table = HTML.table(id: "revisions", ["REVISION", "TIME", "ACTION", "OPERATOR", "CERTIFICATE", "RULE FILES"], rows,
                               rowAttributes: history.reversed().map { "data-revision=\"\($0.revision)\"" })
        let index = chosen.flatMap { wanted in history.firstIndex { $0.revision == wanted } } ?? history.count - 1
        let shown = history[index]
        let previous = index > 0 ? history[index - 1] : nil
        let lines = shown.changes(since: previous).map { line -> String in
            switch line {
            case let .same(text): return "<span class=\"same\"> \(HTML.escape(text))</span>"
            case let .added(text): return "<ins>+\(HTML.escape(text))</ins>"
            case let .removed(text): return "<del>-\(HTML.escape(text))</del>"
            }
        }
        let title = previous.map { "Revision \(shown.revision) against \($0.revision)" } ?? "Revision \(shown.revision) (the first)"
        return """
            <h2>Revisions</h2>\(table)
            <h2 id="diff-title">\(title)</h2>
            <pre class="diff" id="diff" data-from="\(previous?.revision ?? 0)" data-to="\(shown.revision)">\(lines.joined())</pre>
            """
    }
}

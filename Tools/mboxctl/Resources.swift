import ArgumentParser
import Foundation
import GRPCCore
import MBoxChain
import MBoxControlPlane
import MBoxProto

struct Apply: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply chain files (with the rule files they name and their placement).",
        discussion: "Each file is validated by the controller with the agent's own compiler; problems come back with file:line:column.")

    @Option(name: .shortAndLong, help: "Chain file (YAML); repeatable.")
    var file: [String]

    @Option(help: "Override the file's placement: agents whose labels include these (k=v,k=v).")
    var selector: String?

    @Option(help: "Seconds to wait for the controller to check and store each chain (large rule sets compile for a while).")
    var timeout = 120

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard !file.isEmpty else { throw ValidationError("give at least one -f FILE") }
        guard timeout > 0 else { throw ValidationError("--timeout is a number of seconds above zero") }
        if let selector {
            do { _ = try Labels.parse(selector) } catch { throw ValidationError("--selector: \(error)") }
        }
    }

    func run() async throws {
        var specs: [Mbox_V1_ChainSpec] = []
        for path in file {
            do {
                var spec = try Mbox_V1_ChainSpec.load(file: path)
                if let selector { spec.selector = try Labels.parse(selector) }
                let size = try spec.configBytes()
                guard size <= ControlLimits.maximumMessageBytes else {
                    throw CtlError("\(path) with its rule files is \(size) bytes as an agent's config; controller, agents and mboxctl "
                                   + "take at most \(ControlLimits.maximumMessageBytes) bytes a message")
                }
                specs.append(spec)
            } catch { throw CtlError("\(error)") }
        }
        let requests = specs
        let options = ConnectionOptions.deadline(seconds: timeout)
        let outcomes = try await connection.withOperator { service in
            var outcomes: [String] = []
            for spec in requests {
                var request = Mbox_V1_ApplyChainRequest()
                request.spec = spec
                let response = try await service.applyChain(request, options: options)
                let placed = response.agents.isEmpty ? "" : " (pushed to \(response.agents.joined(separator: ", ")))"
                outcomes.append("chain/\(spec.name) \(response.outcome), revision \(response.revision)\(placed)")
            }
            return outcomes
        }
        outcomes.forEach { print($0) }
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete a chain: delete chain NAME.")

    @Argument(help: "chain")
    var kind: String

    @Argument var name: String

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard kind == "chain" || kind == "chains" else { throw ValidationError("only chains can be deleted ('delete chain NAME')") }
    }

    func run() async throws {
        let name = self.name
        let response = try await connection.withOperator { service in
            var request = Mbox_V1_DeleteChainRequest()
            request.name = name
            return try await service.deleteChain(request, options: ConnectionOptions.deadline)
        }
        print("chain/\(name) deleted, revision \(response.revision)" + (response.agents.isEmpty ? "" : " (pushed to \(response.agents.joined(separator: ", ")))"))
    }
}

struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List agents or chains: get agents|chains [NAME] [-o table|json].",
        discussion: "`get chain NAME -o json --with-rules` includes the rule files' text; listings give their names and sizes.")

    @Argument(help: "agents or chains")
    var kind: String

    @Argument(help: "Only this chain.")
    var name: String?

    @Flag(help: "With -o json and a chain NAME: include the rule files' text.")
    var withRules = false

    @OptionGroup var format: OutputFormat

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard ["agents", "agent", "chains", "chain"].contains(kind) else { throw ValidationError("get agents or get chains, not '\(kind)'") }
        if kind.hasPrefix("agent"), name != nil { throw ValidationError("get agents takes no NAME") }
        if withRules, name == nil || !format.json { throw ValidationError("--with-rules needs a chain NAME and -o json") }
    }

    func run() async throws {
        if kind.hasPrefix("agent") {
            let agents = try await connection.withOperator { try await $0.listAgents(.init(), options: ConnectionOptions.deadline).agents }
            if format.json { agents.forEach { print(AgentJSON.line($0)) }; return }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            print(Table.render(["NAME", "LABELS", "CONNECTED", "CHAIN", "DESIRED", "APPLIED", "PACKETS", "MISSED", "ALERTS", "SPOOLED", "LAST SEEN",
                                "ERROR"],
                               agents.map { agent in
                [agent.name, Labels.format(agent.labels), agent.connected ? "yes" : "no", agent.chain.isEmpty ? "-" : agent.chain,
                 "\(agent.desiredVersion)", "\(agent.appliedVersion)", "\(agent.stats.packets)",
                 "\(agent.stats.portMissed + agent.stats.portNoMbuf)", "\(agent.stats.alerts)",
                 "\(agent.stats.spoolPending)", Age.text(milliseconds: now - agent.lastSeenUnixMs), agent.applyError]
            }))
        } else {
            var request = Mbox_V1_ListChainsRequest()
            request.name = name ?? ""
            request.withRules = withRules
            let listing = request
            let chains = try await connection.withOperator { try await $0.listChains(listing, options: ConnectionOptions.deadline).chains }
            if format.json { chains.forEach { print((try? $0.jsonString()) ?? "{}") }; return }
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            print(Table.render(["NAME", "PLACEMENT", "RULE FILES", "REVISION", "UPDATED"], chains.map { chain in
                [chain.spec.name, chain.spec.selector.isEmpty ? "(all agents)" : Labels.format(chain.spec.selector),
                 chain.spec.ruleSets.map(\.name).joined(separator: ","), "\(chain.revision)", Age.text(milliseconds: now - chain.updatedUnixMs)]
            }))
        }
    }
}

/// Aligned columns, kubectl style.
enum Table {
    static func render(_ header: [String], _ rows: [[String]]) -> String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "   ")
                .trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}

/// `get agents -o json`: one object per agent, every field present, counters as numbers
/// (protobuf's JSON mapping writes 64-bit integers as strings and leaves zeros out).
enum AgentJSON {
    static func line(_ agent: Mbox_V1_AgentInfo) -> String {
        let stats = agent.stats
        let object: [String: Any] = [
            "name": agent.name, "labels": agent.labels, "capabilities": agent.capabilities, "connected": agent.connected,
            "last_seen_unix_ms": agent.lastSeenUnixMs, "chain": agent.chain, "desired_version": agent.desiredVersion,
            "applied_version": agent.appliedVersion, "apply_error": agent.applyError, "software_version": agent.softwareVersion,
            "stats": ["packets": stats.packets, "bytes": stats.bytes, "flows": stats.flows, "alerts": stats.alerts,
                      "dropped": stats.dropped, "malformed": stats.malformed, "spool_pending": stats.spoolPending,
                      "running_version": stats.runningVersion, "port_missed": stats.portMissed,
                      "port_no_mbuf": stats.portNoMbuf] as [String: Any],
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }
}

import Foundation
import MBoxChain
import Yams

/// `mbox-agent run --config agent.yaml`: the agent's settings kept in a file (in git, next
/// to the chains), keyed by the long option names of `run` — `dpdk`, `workers`,
/// `controller`, `labels`, … (`state-dir` or `state_dir`). Options given on the command
/// line as well override the file's. The file becomes arguments, so it is checked exactly
/// as the command line is; a key or value the agent does not know is an error naming the
/// file, line and column.
///
/// ```yaml
/// dpdk: ["-l 0-2", "-a 0000:03:00.0", "-a 0000:03:00.1"]   # or one string
/// port: "0000:03:00.0"
/// out-port: "0000:03:00.1"
/// workers: 2
/// controller: controller.example.net:7443
/// pki: /etc/mbox/pki
/// name: edge-1
/// labels: {role: ids, site: fra1}
/// state-dir: /var/lib/mbox
/// wait-for-config: true
/// metrics: 127.0.0.1:9101
/// ```
enum AgentConfigFile {
    enum Kind {
        /// A string or number, given as is.
        case value
        /// A number.
        case number
        /// true or false (a flag).
        case flag
        /// EAL arguments: one string, or a list joined with spaces.
        case words
        /// k=v,k=v, or a mapping.
        case labels
        /// As Suricata's `host-os-policy`: policy names mapped to lists of prefixes.
        case hostPolicies
    }

    /// The options `run` takes from a file.
    static let keys: [String: Kind] = [
        "pcap": .value, "duration": .number, "metrics": .value,
        "dpdk": .words, "port": .value, "out-port": .value, "workers": .number, "no-rss": .flag, "null-frames": .value,
        "chain": .value, "rules": .value, "threshold-config": .value, "mode": .value, "eve": .value, "eve-anomalies": .flag,
        "overlap": .value, "checksum-validation": .value, "flow-capacity": .number, "idle-timeout": .number, "reassembly-flow-limit": .number,
        "reassembly-global-limit": .number, "no-reassembly": .flag,
        "host-os-policy": .hostPolicies, "defrag-timeout": .number, "tunnel-depth": .number, "defrag-memcap": .number,
        "controller": .value, "pki": .value, "name": .value, "cert": .value, "key": .value, "ca": .value,
        "labels": .labels, "state-dir": .value, "wait-for-config": .flag, "drain-seconds": .number,
    ]

    struct Problem: Error, CustomStringConvertible {
        let description: String
    }

    /// The file's settings as `run` arguments (`--dpdk "…" --workers 2 …`).
    static func arguments(from path: String) throws -> [String] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw Problem(description: "cannot read \(path)") }
        func problem(_ node: Node?, _ message: String) -> Problem {
            Problem(description: "\(path):\(node?.mark?.line ?? 0):\(node?.mark?.column ?? 0): \(message)")
        }
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw Problem(description: "\(path):\(ChainParser.line(of: error)): not valid YAML: \(ChainParser.problem(of: error))")
        }
        guard let root else { return [] }
        guard let mapping = root.mapping else { throw problem(root, "an agent configuration is a mapping of option names to values") }
        var arguments: [String] = []
        for (keyNode, value) in mapping {
            let key = (keyNode.string ?? "").replacingOccurrences(of: "_", with: "-")
            guard let kind = keys[key] else {
                throw problem(keyNode, "unknown setting '\(keyNode.string ?? "")' (known: \(keys.keys.sorted().joined(separator: ", ")))")
            }
            switch kind {
            case .value:
                guard let scalar = value.scalar?.string, !scalar.isEmpty else { throw problem(value, "'\(key)' takes a value") }
                arguments += ["--\(key)", scalar]
            case .number:
                guard let number = value.float ?? value.int.map(Double.init), number.isFinite else {
                    throw problem(value, "'\(key)' takes a number")
                }
                arguments += ["--\(key)", value.scalar!.string]
            case .flag:
                guard let flag = value.bool else { throw problem(value, "'\(key)' is true or false") }
                if flag { arguments.append("--\(key)") }
            case .words:
                if let list = value.sequence {
                    let words = try list.map { item -> String in
                        guard let word = item.scalar?.string else { throw problem(item, "'\(key)' lists strings") }
                        return word
                    }
                    arguments += ["--\(key)", words.joined(separator: " ")]
                } else if let scalar = value.scalar?.string {
                    arguments += ["--\(key)", scalar]
                } else {
                    throw problem(value, "'\(key)' is a string or a list of strings")
                }
            case .labels:
                if let labels = value.mapping {
                    let pairs = try labels.map { name, label -> String in
                        guard let name = name.string, let label = label.scalar?.string else {
                            throw problem(label, "'labels' maps names to values")
                        }
                        return "\(name)=\(label)"
                    }
                    arguments += ["--labels", pairs.joined(separator: ",")]
                } else if let scalar = value.scalar?.string {
                    arguments += ["--labels", scalar]
                } else {
                    throw problem(value, "'labels' is a mapping or k=v,k=v")
                }
            case .hostPolicies:
                // As on the command line (POLICY=PREFIX,… or a list of them), or as Suricata writes it.
                if let scalar = value.scalar?.string {
                    arguments += ["--\(key)", scalar]
                    continue
                }
                if let list = value.sequence {
                    for item in list {
                        guard let text = item.scalar?.string else { throw problem(item, "'\(key)' lists POLICY=PREFIX,… strings") }
                        arguments += ["--\(key)", text]
                    }
                    continue
                }
                guard let policies = value.mapping else { throw problem(value, "'\(key)' maps policies to lists of prefixes") }
                for (name, prefixes) in policies {
                    let list = prefixes.sequence.map { $0.compactMap { $0.scalar?.string } } ?? prefixes.scalar.map { [$0.string] } ?? []
                    guard let name = name.string, !list.isEmpty else { continue }  // `linux: []` as in suricata.yaml
                    arguments += ["--\(key)", "\(name)=\(list.joined(separator: ","))"]
                }
            }
        }
        return arguments
    }

    /// This process's arguments after the subcommand, without `--config FILE`.
    static func commandLine(after subcommand: String) -> [String] {
        var rest = Array(CommandLine.arguments.dropFirst())
        if rest.first == subcommand { rest.removeFirst() }
        var kept: [String] = []
        var skipNext = false
        for argument in rest {
            if skipNext { skipNext = false; continue }
            if argument == "--config" { skipNext = true; continue }
            if argument.hasPrefix("--config=") { continue }
            kept.append(argument)
        }
        return kept
    }
}

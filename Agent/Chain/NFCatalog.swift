import Foundation
import Synchronization
import MBoxNFRunner
import MBoxNFs
import MBoxPacket
import MBoxRules
import MBoxDetect

/// Shared, read-only inputs NFs are built from (rule engines are compiled once and
/// shared by every worker).
public final class BuildResources: Sendable {
    /// Overrides every Signature_Match's `rules` parameter (the command's `--rules`).
    public let rulesOverride: String?
    /// Rule files by name, sent with the chain (a controller's push): `rules` names one of
    /// them, and the file system is not read.
    public let ruleSets: [String: String]?
    /// A threshold.config applied to every rule set (the command's `--threshold-config`).
    public let thresholdConfig: String?
    /// Set for chains pushed by a controller: NFs may write files only under this
    /// directory (the agent's state directory), named by relative paths. nil: no confinement
    /// (a chain file the operator starts the agent with).
    public let confinedOutput: String?
    /// Compiled rule sets by path (built once, shared by every worker).
    private let engines = Mutex<[String: DetectEngine]>([:])
    /// What the rules of the NF prepared last need delivered (read by the chain compiler).
    private let preparedNeeds = Mutex<DetectionNeeds?>(nil)

    func recordNeeds(_ needs: DetectionNeeds) {
        preparedNeeds.withLock { $0 = needs }
    }

    func takeNeeds() -> DetectionNeeds? {
        preparedNeeds.withLock { needs in
            defer { needs = nil }
            return needs
        }
    }

    public init(rulesOverride: String? = nil, ruleSets: [String: String]? = nil, thresholdConfig: String? = nil,
                confinedOutput: String? = nil) {
        self.rulesOverride = rulesOverride
        self.ruleSets = ruleSets
        self.thresholdConfig = thresholdConfig
        self.confinedOutput = confinedOutput
    }

    /// Where an NF's output file `path` goes: as given, or for a confined chain under
    /// `confinedOutput` — nil (with `problem` set) when the path would leave it.
    func outputPath(_ path: String, problem: inout String?) -> String? {
        guard let directory = confinedOutput, path != "/dev/null" else { return path }
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, !path.hasPrefix("/"), !components.contains(".."), !components.contains("") else {
            problem = "a pushed chain writes only under the agent's state directory: give a relative path without '..' (not '\(path)')"
            return nil
        }
        return directory + "/" + path
    }

    /// The compiled rules of `path` (or of the rule set so named); parse problems are kept
    /// in the engine, not thrown.
    public func engine(_ path: String) throws -> DetectEngine {
        try engines.withLock { engines in try engine(path, in: &engines) }
    }

    private func engine(_ path: String, in engines: inout [String: DetectEngine]) throws -> DetectEngine {
        if let engine = engines[path] { return engine }
        let text: String
        if let ruleSets {
            guard let sent = ruleSets[path] else {
                throw RuleProblem(file: path, line: 0, sid: nil,
                                  message: "no rule file named '\(path)' came with the chain (sent: \(ruleSets.keys.sorted().joined(separator: ", ")))")
            }
            text = sent
        } else {
            text = try Self.readRules(path)
        }
        var set = RuleParser().parse(text, file: path)
        if let thresholdConfig {
            set = ThresholdConfig(try Self.readRules(thresholdConfig), file: thresholdConfig).apply(to: set)
        }
        let engine = try DetectEngine(set)
        engines[path] = engine
        return engine
    }

    /// A rules file's text, or a message that says what is wrong with the path.
    static func readRules(_ path: String) throws -> String {
        func problem(_ message: String) -> RuleProblem { RuleProblem(file: path, line: 0, sid: nil, message: message) }
        var status = stat()
        guard stat(path, &status) == 0 else { throw problem("cannot read the rules file: \(String(cString: strerror(errno)))") }
        switch status.st_mode & S_IFMT {
        case S_IFDIR: throw problem("is a directory, not a rules file")
        case S_IFREG: break
        default: throw problem("is not a regular file")
        }
        guard status.st_size <= 256 << 20 else { throw problem("rules file of \(status.st_size) bytes is over 256 MiB") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw problem("cannot read the rules file: \(String(cString: strerror(errno)))")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw problem("is not UTF-8 text") }
        return text
    }

    public var loadedEngines: [(String, DetectEngine)] {
        engines.withLock { $0.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }
    }
}

/// The NF types a chain can use: what each does to packets, publishes and accepts.
public struct NFKind: Sendable {
    public var type: String
    public var action: NFAction
    public var publishes: [String]
    public var parameters: [String]
    /// Reads parameters (recording errors in them) and returns a factory for one worker's instance.
    let prepare: @Sendable (inout Parameters, BuildResources, _ chainDirectory: String) -> (@Sendable () throws -> any NetworkFunction)?

    public static let all: [NFKind] = [firewall, dpi, signatureMatch, ips, flowStats, logger, loadBalancer, httpRewriter, httpCache]

    public static func named(_ type: String) -> NFKind? { all.first { $0.type == type } }

    static let firewall = NFKind(type: "Firewall", action: .mayDrop, publishes: [], parameters: ["default", "rules"]) {
        parameters, _, _ in
        let fallback = parameters.string("default", default: "allow") ?? "allow"
        if fallback != "allow" && fallback != "drop" { parameters.error(nil, "Firewall 'default' is allow or drop") }
        var rules: [FirewallRule] = []
        let parser = RuleParser()
        if let (items, location) = parameters.list("rules") {
            for item in items {
                guard case let .map(fields) = item else {
                    parameters.error(location, "each Firewall rule is a mapping (action, proto, src, src_port, dst, dst_port)")
                    continue
                }
                var rule = FirewallRule(allow: true)
                for (key, value) in fields {
                    guard case let .string(text) = value.asString else {
                        parameters.error(location, "Firewall rule field '\(key)' must be a string"); continue
                    }
                    do {
                        switch key {
                        case "action":
                            guard text == "allow" || text == "drop" else { throw RuleProblem(file: "", line: 0, sid: nil, message: "action is allow or drop") }
                            rule.allow = text == "allow"
                        case "proto":
                            switch text {
                            case "tcp": rule.ipProtocol = IPProtocolNumber.tcp
                            case "udp": rule.ipProtocol = IPProtocolNumber.udp
                            case "icmp": rule.ipProtocol = IPProtocolNumber.icmp
                            case "any": rule.ipProtocol = nil
                            default: throw RuleProblem(file: "", line: 0, sid: nil, message: "proto is tcp, udp, icmp or any")
                            }
                        case "src": rule.source = try parser.parseAddress(text)
                        case "dst": rule.destination = try parser.parseAddress(text)
                        case "src_port": rule.sourcePorts = try parser.parsePorts(text)
                        case "dst_port": rule.destinationPorts = try parser.parsePorts(text)
                        default: throw RuleProblem(file: "", line: 0, sid: nil, message: "unknown field (action, proto, src, src_port, dst, dst_port)")
                        }
                    } catch let problem as RuleProblem {
                        parameters.error(location, "Firewall rule field '\(key)': \(problem.message)")
                    } catch {
                        parameters.error(location, "Firewall rule field '\(key)': \(error)")
                    }
                }
                rules.append(rule)
            }
        }
        let allow = fallback != "drop"
        let frozen = rules
        return { Firewall(rules: frozen, allowByDefault: allow) }
    }

    static let dpi = NFKind(type: "DPI", action: .readOnly, publishes: ["EVENT/DPI_DETECT"], parameters: ["max_inspections"]) {
        parameters, _, _ in
        let maximum = parameters.int("max_inspections", default: 8, range: 1...64)
        return { DPI(maximumInspections: maximum) }
    }

    static let signatureMatch = NFKind(type: "Signature_Match", action: .readOnly, publishes: ["EVENT/IDS_ALERT"],
                                       parameters: ["rules", "stop_on_alert"]) { parameters, resources, directory in
        prepareSignatureMatch(&parameters, resources, directory, prevents: false)
    }

    /// Signature_Match inline: `drop`/`reject` rules drop the packet and the rest of its flow.
    static let ips = NFKind(type: "IPS", action: .mayDrop, publishes: ["EVENT/IDS_ALERT"],
                            parameters: ["rules", "stop_on_alert"]) { parameters, resources, directory in
        prepareSignatureMatch(&parameters, resources, directory, prevents: true)
    }

    private static func prepareSignatureMatch(_ parameters: inout Parameters, _ resources: BuildResources, _ directory: String,
                                              prevents: Bool) -> (@Sendable () throws -> any NetworkFunction)? {
        let stop = parameters.bool("stop_on_alert", default: false)
        var path = resources.rulesOverride ?? parameters.string("rules", default: nil)
        guard let given = path else {
            parameters.error(nil, "Signature_Match needs 'rules' (a rules file) or the command's --rules")
            return nil
        }
        if resources.rulesOverride == nil, resources.ruleSets == nil, !given.hasPrefix("/") { path = directory + "/" + given }
        let engine: DetectEngine
        do {
            engine = try resources.engine(path!)
        } catch {
            parameters.error(nil, "cannot load rules \(path!): \(error)")
            return nil
        }
        resources.recordNeeds(engine.needs)
        return { try SignatureMatch(engine: engine, stopOnAlert: stop, prevents: prevents) }
    }

    static let flowStats = NFKind(type: "Flow_Stats", action: .readOnly, publishes: ["EVENT/LONG_FLOW"],
                                  parameters: ["long_flow_average_bytes", "minimum_packets"]) { parameters, _, _ in
        let threshold = parameters.int("long_flow_average_bytes", default: 600, range: 1...65535)
        let minimum = parameters.int("minimum_packets", default: 4, range: 1...1_000_000)
        return { FlowStats(averageThreshold: threshold, minimumPackets: minimum) }
    }

    static let logger = NFKind(type: "Logger", action: .readOnly, publishes: [], parameters: ["path"]) { parameters, resources, _ in
        let given = parameters.string("path", default: "/dev/null") ?? "/dev/null"
        var problem: String?
        guard let path = resources.outputPath(given, problem: &problem) else {
            parameters.error(nil, "Logger 'path': \(problem ?? "")")
            return nil
        }
        return {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            return try Logger(path: path)
        }
    }
}

extension NFKind {
    /// The L7 load balancer: answers the TCP Splicer's FLOW_REQ with a backend.
    static let loadBalancer = NFKind(type: "L7_LoadBalancer", action: .readOnly, publishes: [],
                                     parameters: ["pools", "rules", "balance", "retry_after"]) { parameters, _, _ in
        let methodName = parameters.string("balance", default: "round_robin") ?? "round_robin"
        let method = BalancingMethod(rawValue: methodName)
        if method == nil {
            parameters.error(nil, "L7_LoadBalancer 'balance' is \(BalancingMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let retry = parameters.int("retry_after", default: 10, range: 0...86_400)
        var names: [String] = []
        var pools: [[Backend]] = []
        if let (items, location) = parameters.map("pools") {
            for (name, value) in items {
                guard case let .list(entries) = value, !entries.isEmpty else {
                    parameters.error(location, "pool '\(name)' is a non-empty list of backends (address:port)")
                    continue
                }
                var backends: [Backend] = []
                for entry in entries {
                    guard case let .string(text) = entry.asString, let backend = Backend(text) else {
                        parameters.error(location, "pool '\(name)': '\(entry)' is not an IPv4 address:port")
                        continue
                    }
                    backends.append(backend)
                }
                names.append(name)
                pools.append(backends)
            }
        } else {
            parameters.error(nil, "L7_LoadBalancer needs 'pools' (name: [address:port, …])")
        }
        var rules: [BalancingRule] = []
        if let (items, location) = parameters.list("rules") {
            for item in items {
                guard case let .map(fields) = item else {
                    parameters.error(location, "each L7_LoadBalancer rule is a mapping (host, path, sni, pool)")
                    continue
                }
                var rule = BalancingRule(pool: -1)
                for (key, value) in fields {
                    guard case let .string(text) = value.asString else {
                        parameters.error(location, "rule field '\(key)' must be a string"); continue
                    }
                    switch key {
                    case "host": rule.host = text.lowercased()
                    case "path": rule.pathPrefix = text
                    case "sni": rule.serverName = text.lowercased()
                    case "pool":
                        guard let index = names.firstIndex(of: text) else {
                            parameters.error(location, "rule names pool '\(text)', which 'pools' does not define"); continue
                        }
                        rule.pool = index
                    default: parameters.error(location, "unknown rule field '\(key)' (host, path, sni, pool)")
                    }
                }
                if rule.pool < 0 { parameters.error(location, "each rule names its 'pool'") } else { rules.append(rule) }
            }
        } else if pools.count == 1 {
            rules = [BalancingRule(pool: 0)]
        } else if !pools.isEmpty {
            parameters.error(nil, "with several pools, 'rules' say which requests go to which")
        }
        guard let method else { return nil }
        let (frozenPools, frozenRules) = (pools, rules)
        return { L7LoadBalancer(pools: frozenPools, rules: frozenRules, method: method, retryAfterSeconds: retry) }
    }
}

extension NFKind {
    /// The HTTP header rewriter: edits header blocks in the TCP Split Proxy's byte streams.
    static let httpRewriter = NFKind(type: "HTTP_Rewriter", action: .mayModify, publishes: [],
                                     parameters: ["forwarded_for", "strip_request", "strip_response", "add_request",
                                                  "add_response", "location"]) { parameters, _, _ in
        var rules = HTTPRewriter.Rules()
        rules.forwardedFor = parameters.bool("forwarded_for", default: true)
        func names(_ key: String) -> Set<String> {
            guard let (items, location) = parameters.list(key) else { return [] }
            var names: Set<String> = []
            for item in items {
                guard case let .string(name) = item.asString, !name.isEmpty, !name.contains(":"), !name.contains(" ") else {
                    parameters.error(location, "'\(key)' lists header names"); continue
                }
                names.insert(name.lowercased())
            }
            return names
        }
        func lines(_ key: String) -> [String] {
            guard let (items, location) = parameters.map(key) else { return [] }
            var lines: [String] = []
            for (name, value) in items {
                guard case let .string(text) = value.asString, !name.contains(":"), !name.contains(" "),
                      !text.contains("\r"), !text.contains("\n") else {
                    parameters.error(location, "'\(key)' maps header names to one-line values"); continue
                }
                lines.append("\(name): \(text)")
            }
            return lines
        }
        rules.stripRequest = names("strip_request")
        rules.stripResponse = names("strip_response")
        rules.addRequest = lines("add_request")
        rules.addResponse = lines("add_response")
        if let (items, location) = parameters.map("location") {
            let fields = Dictionary(items.map { ($0.0, $0.1) }, uniquingKeysWith: { first, _ in first })
            if case let .string(from)? = fields["from"]?.asString, case let .string(to)? = fields["to"]?.asString, !from.isEmpty,
               fields.count == 2 {
                rules.location = (from, to)
            } else {
                parameters.error(location, "'location' is {from: PREFIX, to: REPLACEMENT}")
            }
        }
        let frozen = rules
        return { HTTPRewriter(rules: frozen) }
    }
}

extension NFKind {
    /// The HTTP cache: answers hits itself on the TCP Split Proxy (the TCP Endpoint).
    static let httpCache = NFKind(type: "HTTP_Cache", action: .readOnly, publishes: [],
                                  parameters: ["max_object", "capacity"]) { parameters, _, _ in
        let maximum = parameters.int("max_object", default: 1 << 20, range: 1...(64 << 20))
        let capacity = parameters.int("capacity", default: 64 << 20, range: 1...(4 << 30))
        if capacity < maximum { parameters.error(nil, "HTTP_Cache 'capacity' must hold at least one object of 'max_object' bytes") }
        return { HTTPCache(maximumObject: maximum, capacity: capacity) }
    }
}

extension ParameterValue {
    /// Numbers and booleans written where a string is expected, as text.
    var asString: ParameterValue {
        switch self {
        case let .int(number): return .string(String(number))
        case let .double(number): return .string(String(number))
        case let .bool(flag): return .string(String(flag))
        default: return self
        }
    }
}

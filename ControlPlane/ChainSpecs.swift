import MBoxNFs
import Foundation
import MBoxChain
import MBoxProto
import MBoxRules

extension Mbox_V1_ChainSpec {
    /// A chain file as `mboxctl apply -f` sends it: its text, the rule files its NFs'
    /// `rules:` parameters name (read relative to the chain file, sent under the name as
    /// written) and its `placement:`.
    public static func load(file path: String) throws -> Mbox_V1_ChainSpec {
        let definition = try ChainParser().parse(file: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let directory = (path as NSString).deletingLastPathComponent
        var spec = Mbox_V1_ChainSpec()
        spec.name = definition.name
        spec.yaml = text
        spec.file = path
        spec.selector = definition.placement
        var seen = Set<String>()
        for function in definition.functions {
            for case let (key, .string(rules), location) in function.parameters where key == "rules" && seen.insert(rules).inserted {
                let rulesPath = rules.hasPrefix("/") || directory.isEmpty ? rules : directory + "/" + rules
                guard let text = try? String(contentsOfFile: rulesPath, encoding: .utf8) else {
                    throw ChainErrors(errors: [ChainError(location: location, message: "cannot read rules file \(rulesPath)")])
                }
                var set = Mbox_V1_RuleSet()
                set.name = rules
                set.text = text
                spec.ruleSets.append(set)
            }
        }
        return spec
    }
}

/// A chain spec checked by the same code the agent runs it with: YAML shape, NF types,
/// parameters, subscriptions, and every rule (a rule the agent would skip is an error
/// here: a pushed policy loads whole or not at all).
public struct ChainSpecCompiler {
    public var maximumRules: Int
    public var maximumCompiledBytes: Int

    public init(maximumRules: Int = ControlLimits.maximumRules, maximumCompiledBytes: Int = ControlLimits.maximumCompiledBytes) {
        self.maximumRules = maximumRules
        self.maximumCompiledBytes = maximumCompiledBytes
    }

    /// `outputDirectory`: where the agent lets the chain's NFs write files (its state
    /// directory's `output/`); every path in a pushed chain must stay under it.
    public func compile(_ spec: Mbox_V1_ChainSpec, outputDirectory: String = "output") throws -> CompiledChain {
        let file = spec.file.isEmpty ? "\(spec.name).yaml" : spec.file
        let definition = try ChainParser().parse(spec.yaml, file: file)
        guard DevelopmentCA.isValidName(definition.name) else {
            throw ChainErrors(errors: [ChainError(location: SourceLocation(file: file, line: 1, column: 1),
                                                  message: "the chain needs a 'name' of letters, digits, '.', '-' or '_' (not '\(definition.name)')")])
        }
        guard spec.name.isEmpty || spec.name == definition.name else {
            throw ChainErrors(errors: [ChainError(location: SourceLocation(file: file, line: 1, column: 1),
                                                  message: "the request names chain '\(spec.name)' but the file names '\(definition.name)'")])
        }
        let resources = BuildResources(ruleSets: Dictionary(spec.ruleSets.map { ($0.name, $0.text) }, uniquingKeysWith: { a, _ in a }),
                                       confinedOutput: outputDirectory)
        let compiled = try ChainCompiler().compile(definition, resources: resources)
        let engines = resources.loadedEngines
        let problems = engines.flatMap { $0.1.problems }
        guard problems.isEmpty else { throw RuleErrors(problems: problems) }
        let rules = engines.reduce(0) { $0 + $1.1.rules.count }
        let compiledBytes = engines.reduce(0) { $0 + $1.1.prefilterBytes }
        guard rules <= maximumRules, compiledBytes <= maximumCompiledBytes else {
            throw ChainErrors(errors: [ChainError(location: SourceLocation(file: file, line: 1, column: 1), message: """
                the chain compiles to \(rules) rules and \(compiledBytes) bytes of pattern databases; a chain may hold at most \
                \(maximumRules) rules and \(maximumCompiledBytes) bytes
                """)])
        }
        return compiled
    }
}

/// Rules that would not load, each with file, line and sid.
public struct RuleErrors: Error, CustomStringConvertible {
    public var problems: [RuleProblem]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

extension Mbox_V1_ChainSpec {
    /// Whether an agent with `labels` runs this chain.
    public func selects(_ labels: [String: String]) -> Bool {
        selector.allSatisfy { labels[$0.key] == $0.value }
    }
}

extension Mbox_V1_ChainSpec {
    /// The size of the config that carries this chain to an agent (what the shared
    /// message limit is checked against, by mboxctl and the controller alike).
    public func configBytes() throws -> Int {
        var carried = Mbox_V1_AgentConfig()
        carried.version = UInt64.max
        carried.chain = self
        return try (carried.serializedBytes() as [UInt8]).count
    }
}

/// Limits both sides agree on.
public enum ControlLimits {
    /// Largest message the controller accepts (a chain with its rule files, an alert
    /// batch); the transport resets a stream that sends more.
    public static let maximumMessageBytes = 16 << 20
    /// Most rules one chain may load, and most bytes its compiled pattern databases may
    /// take (each agent holds them once, shared by its workers). The largest public rule
    /// sets hold about 50,000 rules.
    public static let maximumRules = 200_000
    public static let maximumCompiledBytes = 256 << 20
}

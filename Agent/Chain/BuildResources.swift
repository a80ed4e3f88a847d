import Foundation
import Synchronization
import MBoxNFRunner
import MBoxNFs
import MBoxPacket
import MBoxRules
import MBoxDetect

/// Shared, read-only inputs NFs are built from (rule engines are compiled once and
/// shared by every worker): the chain compiler's `NFResources`.
public final class BuildResources: NFResources {
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
    public init(rulesOverride: String? = nil, ruleSets: [String: String]? = nil, thresholdConfig: String? = nil,
                confinedOutput: String? = nil) {
        self.rulesOverride = rulesOverride
        self.ruleSets = ruleSets
        self.thresholdConfig = thresholdConfig
        self.confinedOutput = confinedOutput
    }

    /// Where an NF's output file `path` goes: as given, or for a confined chain under
    /// `confinedOutput` — nil (with `problem` set) when the path would leave it.
    public func outputPath(_ path: String, problem: inout String?) -> String? {
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

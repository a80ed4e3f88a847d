import MBoxDetect
import MBoxNFRunner

/// An NF type a chain can name: what it does to packets, what it publishes, the
/// parameters it accepts, and how it is prepared from them. Each NF declares its kind
/// beside itself (`Firewall.kind`, …); `NFKind.all` lists them.
public struct NFKind: Sendable {
    public var type: String
    public var action: NFAction
    public var publishes: [String]
    public var parameters: [String]
    /// Reads the parameters (recording errors in them) and returns how to make one worker's
    /// instance; nil when the parameters are unusable.
    public let prepare: @Sendable (inout Parameters, any NFResources, _ chainDirectory: String) -> NFPreparation?

    public init(type: String, action: NFAction, publishes: [String], parameters: [String],
                prepare: @escaping @Sendable (inout Parameters, any NFResources, _ chainDirectory: String) -> NFPreparation?) {
        self.type = type
        self.action = action
        self.publishes = publishes
        self.parameters = parameters
        self.prepare = prepare
    }
}

/// A prepared NF: a factory for one worker's instance, and — for detection NFs — what its
/// rules need delivered (the chain compiler narrows its subscriptions to that).
public struct NFPreparation: Sendable {
    public var factory: @Sendable () throws -> any NetworkFunction
    public var needs: DetectionNeeds?

    public init(needs: DetectionNeeds? = nil, _ factory: @escaping @Sendable () throws -> any NetworkFunction) {
        self.factory = factory
        self.needs = needs
    }
}

/// What NFs are built from, shared by a chain's NFs and every worker: compiled rule sets,
/// where output files may go.
public protocol NFResources: Sendable {
    /// Overrides every detection NF's `rules` parameter (the command's `--rules`).
    var rulesOverride: String? { get }
    /// Rule files sent with the chain by name (a controller's push); nil: read from disk.
    var ruleSets: [String: String]? { get }
    /// The compiled rules of `path` (or of the rule set so named), built once.
    func engine(_ path: String) throws -> DetectEngine
    /// Where an NF's output file `path` goes; nil (with `problem` set) when it may not go there.
    func outputPath(_ path: String, problem: inout String?) -> String?
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

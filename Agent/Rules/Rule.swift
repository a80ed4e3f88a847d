import MBoxPacket

/// What a rule does when it matches.
public enum RuleAction: String, Sendable {
    case alert, drop, pass, reject
}

/// Which stream direction a rule inspects (`flow:to_server` / `flow:to_client`).
public enum RuleFlowDirection: Sendable {
    case any, toServer, toClient
}

/// One `content:` with its modifiers.
public struct ContentMatch: Sendable, Equatable {
    public var bytes: [UInt8]
    public var nocase = false
    public var offset: Int?
    public var depth: Int?
    public var distance: Int?
    public var within: Int?

    /// Positioned relative to the previous match (`distance`/`within`).
    public var isRelative: Bool { distance != nil || within != nil }
}

/// One `pcre:` (anywhere in the buffer; `/R` and buffer flags are not supported).
public struct PCREMatch: Sendable, Equatable {
    public var expression: String
    public var caseless = false
    public var dotAll = false
    public var multiline = false
}

/// A payload test, in rule order.
public enum PayloadMatch: Sendable, Equatable {
    case content(ContentMatch)
    case pcre(PCREMatch)
}

/// A Suricata/Snort rule, within the subset this project supports.
public struct Rule: Sendable {
    public var action: RuleAction
    public var ipProtocol: UInt8?  // nil: any IP protocol
    public var source: AddressSpec
    public var sourcePorts: PortSpec
    public var destination: AddressSpec
    public var destinationPorts: PortSpec
    /// `<>`: the header matches either way round.
    public var bidirectional: Bool
    public var message: String = ""
    public var sid: UInt32 = 0
    public var rev: UInt32 = 1
    public var gid: UInt32 = 1
    public var classtype: String?
    /// Description of the classtype (EVE `category`) and its priority (EVE `severity`).
    public var category: String = ""
    public var priority: Int = 3
    public var payload: [PayloadMatch] = []
    public var flowDirection = RuleFlowDirection.any
    public var established: Bool?
    /// `flow:only_stream` / `flow:no_stream`.
    public var onlyStream = false
    public var noStream = false
    /// Where the rule was read: file and 1-based line.
    public var file: String
    public var line: Int

    /// Whether a packet (or stream data) from `source` to `destination` fits the header.
    public func headerMatches(protocol proto: UInt8, source: IPAddress, sourcePort: UInt16,
                              destination: IPAddress, destinationPort: UInt16) -> Bool {
        if let ipProtocol, ipProtocol != proto { return false }
        if self.source.contains(source), sourcePorts.contains(sourcePort),
           self.destination.contains(destination), destinationPorts.contains(destinationPort) {
            return true
        }
        return bidirectional && self.source.contains(destination) && sourcePorts.contains(destinationPort)
            && self.destination.contains(source) && destinationPorts.contains(sourcePort)
    }
}

/// Why a rule was not loaded, with where it is.
public struct RuleProblem: Error, Sendable, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var sid: UInt32?
    public var message: String

    public init(file: String, line: Int, sid: UInt32?, message: String) {
        self.file = file
        self.line = line
        self.sid = sid
        self.message = message
    }

    public var description: String {
        "\(file):\(line):" + (sid.map { " sid \($0):" } ?? "") + " \(message)"
    }
}

/// The rules that loaded and the problems of those that did not.
public struct RuleSet: Sendable {
    public var rules: [Rule] = []
    public var problems: [RuleProblem] = []
    public init() {}
}

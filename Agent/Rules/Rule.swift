import MBoxPacket

/// What a rule does when it matches.
public enum RuleAction: String, Sendable {
    case alert, drop, pass, reject
}

/// Which stream direction a rule inspects (`flow:to_server` / `flow:to_client`).
public enum RuleFlowDirection: Sendable {
    case any, toServer, toClient
}

/// Whether a TCP payload rule looks at packets, at the reassembled stream, or at both
/// (`tcp-pkt`, `tcp-stream`, `flow:no_stream` / `only_stream`).
public enum StreamMode: Sendable {
    case both, packetOnly, streamOnly
}

/// A payload test, in rule order.
public enum PayloadMatch: Sendable, Equatable {
    case content(ContentMatch)
    case pcre(PCREMatch)
    case byteTest(ByteTest)
    case byteJump(ByteJump)
    case byteExtract(ByteExtract)
    case isDataAt(IsDataAt)
    case base64Decode(Base64Decode)
}

/// A transform applied to a sticky buffer before it is inspected.
public enum BufferTransform: String, Sendable, Equatable, CaseIterable {
    case dotPrefix = "dotprefix", stripWhitespace = "strip_whitespace", compressWhitespace = "compress_whitespace"
    case toLowercase = "to_lowercase", toUppercase = "to_uppercase", urlDecode = "url_decode"
    case toMD5 = "to_md5", toSHA1 = "to_sha1", toSHA256 = "to_sha256", headerLowercase = "header_lowercase"
    case stripPseudoHeaders = "strip_pseudo_headers", xor, pcrexform
}

/// The payload tests of one buffer: the packet/stream payload or a sticky buffer.
public struct BufferSection: Sendable, Equatable {
    public var buffer: InspectionBuffer
    public var transforms: [BufferTransform] = []
    public var matches: [PayloadMatch] = []
    /// `bsize`: the buffer's length.
    public var size: NumberTest?

    public init(buffer: InspectionBuffer) { self.buffer = buffer }
}

/// `flowbits`/`xbits` operations and tests.
public struct BitOperation: Sendable, Equatable {
    public enum Command: String, Sendable { case set, unset, toggle, isset, isnotset }
    /// Where the bit lives: the flow (`flowbits`) or a host/pair (`xbits`).
    public enum Scope: Sendable, Equatable { case flow, source, destination, pair }
    public var command: Command
    /// Bit names; for tests, `a|b` means any, `a&b` all (`anyOf`).
    public var names: [String]
    public var anyOf = false
    public var scope = Scope.flow
    /// `xbits` expiry, seconds.
    public var expire: UInt32 = 0

    public var isTest: Bool { command == .isset || command == .isnotset }
}

/// `threshold`/`detection_filter` (and `threshold.config` entries).
public struct Threshold: Sendable, Equatable {
    public enum Kind: String, Sendable { case limit, threshold, both, detectionFilter = "detection_filter" }
    public enum Track: String, Sendable { case bySource = "by_src", byDestination = "by_dst", byRule = "by_rule", byBoth = "by_both", byFlow = "by_flow" }
    public var kind: Kind
    public var track: Track
    public var count: UInt32
    public var seconds: UInt32

    public init(kind: Kind, track: Track, count: UInt32, seconds: UInt32) {
        self.kind = kind
        self.track = track
        self.count = count
        self.seconds = seconds
    }
}

/// A Suricata/Snort rule.
public struct Rule: Sendable {
    public var action: RuleAction
    public var ipProtocol: UInt8?  // nil: any IP protocol
    /// The application protocol the header names (`alert http …`): the rule applies to flows
    /// detected as that protocol, whatever their ports.
    public var appProtocol: AppLayerProtocol?
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
    public var sections: [BufferSection] = []
    public var flowDirection = RuleFlowDirection.any
    public var established: Bool?
    public var streamMode = StreamMode.both
    /// Tests of the packet and its flow's counters (`dsize`, `ttl`, `flags`, …), in rule order.
    public var conditions: [PacketCondition] = []
    public var bits: [BitOperation] = []
    public var threshold: Threshold?
    public var detectionFilter: Threshold?
    /// `flowbits:noalert`: matches (and sets bits) without raising an alert.
    public var noAlert = false
    /// `suppress` entries of a threshold.config: alerts they cover are not raised.
    public var suppressions: [ThresholdConfig.Suppression] = []
    /// `target:src_ip|dest_ip`: which end EVE names as the target.
    public var targetIsSource: Bool?
    public var metadata: [String] = []
    public var references: [String] = []
    /// Where the rule was read: file and 1-based line.
    public var file: String
    public var line: Int

    public init(action: RuleAction, ipProtocol: UInt8?, source: AddressSpec, sourcePorts: PortSpec,
                destination: AddressSpec, destinationPorts: PortSpec, bidirectional: Bool, file: String, line: Int) {
        self.action = action
        self.ipProtocol = ipProtocol
        self.source = source
        self.sourcePorts = sourcePorts
        self.destination = destination
        self.destinationPorts = destinationPorts
        self.bidirectional = bidirectional
        self.file = file
        self.line = line
    }

    /// The payload tests on the packet or stream payload (no sticky buffer), in order.
    public var payload: [PayloadMatch] { sections.filter { $0.buffer == .payload }.flatMap(\.matches) }

    /// Whether the rule inspects any application-layer buffer.
    public var usesAppBuffers: Bool { sections.contains { $0.buffer != .payload } }

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
    /// The keyword that could not be honoured, when one is to blame (for coverage reports).
    public var keyword: String?

    public init(file: String, line: Int, sid: UInt32?, message: String, keyword: String? = nil) {
        self.file = file
        self.line = line
        self.sid = sid
        self.message = message
        self.keyword = keyword
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

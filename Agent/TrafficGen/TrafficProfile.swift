/// What to generate. Every option is deterministic given `seed`.
public struct TrafficProfile: Sendable {
    public var seed: UInt64 = 1
    /// Number of flows (TCP connections and DNS exchanges).
    public var flows = 100
    /// Applications, picked in turn.
    public var applications: [Application] = Application.allCases
    /// Flows in progress at once; their packets interleave.
    public var concurrency = 16
    public var maximumSegmentSize = 1460
    /// Cut data into 1–16-byte segments.
    public var tinySegments = false
    /// Chance that a data segment is swapped with the next one.
    public var outOfOrder = 0.0
    /// Chance that a data segment is sent again later in its burst.
    public var retransmissions = 0.0
    /// Chance that a retransmission spans two segments (overlapping both).
    public var overlappingRetransmissions = 0.0
    /// Chance that a data segment never reaches the capture though the receiver ACKs it.
    public var lostSegments = 0.0
    /// Initial sequence numbers just below 2^32, so streams wrap around.
    public var sequenceWrap = false
    /// Share of flows over IPv6.
    public var ipv6Share = 0.0
    /// VLAN IDs on every frame (two for QinQ).
    public var vlanIDs: [UInt16] = []
    /// Chance, per packet written, of a malformed packet before it.
    public var malformed = 0.0
    /// A string placed in the share `attackShare` of HTTP requests, split across
    /// `attackSegments` segments.
    public var attack: String?
    public var attackShare = 0.0
    public var attackSegments = 2
    public var requestBodySize = 64
    public var responseBodySize = 1024
    /// Share of TCP flows closed by the server first; `resetShare` end with a client RST.
    public var serverClosesFirstShare = 0.5
    public var resetShare = 0.05
    /// Capture time of the first packet, in nanoseconds since the epoch.
    public var startTime: UInt64 = 1_700_000_000_000_000_000

    public init() {}

    /// `flows` flows from `seed`, `attackShare` of them carrying `attack` in a request.
    public init(seed: UInt64, flows: Int, attack: String? = nil, attackShare: Double = 0) {
        self.seed = seed
        self.flows = flows
        self.attack = attack
        self.attackShare = attackShare
    }
}

/// What was generated, for tests and summaries.
public struct GenerationSummary: Sendable {
    public var packets = 0
    public var bytes = 0
    public var tcpFlows = 0
    public var udpFlows = 0
    /// Client endpoints ("ip:port") of the flows carrying the attack string.
    public var attackFlows: [String] = []
    /// Malformed packets written, by the parser's reason name.
    public var malformed: [String: Int] = [:]
    /// Bytes the receiver acknowledged but the capture never saw.
    public var lostBytes = 0

    public init() {}
}

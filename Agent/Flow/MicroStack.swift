import MBoxCapture
import MBoxPacket

/// The μStacks a flow can run on, cheapest first (Microboxes' spectrum). The flow table
/// records each flow's stack when the flow starts.
public enum StackKind: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Headers and flows only.
    case l2l3
    /// TCP state of both ends, optionally byte streams: watches, never answers.
    case tcpMonitor
    /// Answers clients' handshakes, asks NFs for a backend, then splices the two connections.
    case tcpSplicer
    /// Two connections of its own per flow (the Splicer's handshake and backend choice, then
    /// a TCP endpoint each way); NFs read and rewrite the byte streams between them.
    case tcpSplitProxy

    /// The name chain files use.
    public var description: String {
        switch self {
        case .l2l3: return "l2l3"
        case .tcpMonitor: return "tcp_monitor"
        case .tcpSplicer: return "tcp_splicer"
        case .tcpSplitProxy: return "tcp_split_proxy"
        }
    }

    /// Whether flows on this stack start with the Splicer's handshake (SYN cookies, a held
    /// request, a backend chosen by an NF).
    @inlinable public var answersClients: Bool { self == .tcpSplicer || self == .tcpSplitProxy }

    /// Whether the stack can take every flow no selector rule takes (a chain's `stack`):
    /// the stacks that answer clients take only their services' flows.
    public var takesAnyFlow: Bool { !answersClients }

    /// Whether the stack tracks TCP state (`PKT/TCP`, `EVENT/STREAM_ANOMALY`) and can
    /// reassemble byte streams (`DATA_RDY`, the application layer's events).
    public var tracksTCP: Bool { self == .tcpMonitor }

    public init?(name: String) {
        guard let kind = Self.allCases.first(where: { $0.description == name }) else { return nil }
        self = kind
    }
}

/// A μStack: the transport layer a flow runs on, below the events NFs see. The data path
/// records each flow's stack (`StackKind`) in its flow slot and dispatches on it with a
/// switch over concrete stacks, so the per-packet path holds no existential. The TCP
/// Monitor, the TCP Splicer and the TCP Split Proxy implement it.
///
/// A stack keeps its per-flow state in storage indexed by flow slot. How a flow is opened
/// differs by stack (the TCP Monitor takes the receivers' overlap policies, the Splicer the
/// service and the checked cookie, the Split Proxy what the Splicer handed over), so opening
/// is each stack's own call; processing and closing are common. L2/L3 is the absence of
/// one: headers and flows, no transport state.
public protocol MicroStack: AnyObject {
    /// What processing one packet produced (the TCP Monitor: which endpoint's state changed
    /// and whose packet did it; the Splicer: whether the packet goes on, translated).
    associatedtype PacketOutcome
    /// The stack the flow table records for flows on this one.
    static var kind: StackKind { get }
    /// One packet of the flow in `slot`; `fromClient` when the flow's client sent it.
    func process(slot: Int32, headers: PacketHeaders, packet: CapturedPacket, fromClient: Bool) -> PacketOutcome
    /// The flow in `slot` ended: what the stack holds for it is flushed or released.
    func close(slot: Int32)
}

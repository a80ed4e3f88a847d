import MBoxFlow
import MBoxTCPMonitor

/// Why a flow left the data path.
public enum FlowEndReason: String, Sendable {
    /// Both endpoints finished, or a valid RST; reported when the flow leaves the table.
    case closed
    /// No packet for the idle timeout.
    case idleTimeout = "idle_timeout"
    /// Pushed out of a full flow table.
    case evicted
    /// A new connection reused its 5-tuple.
    case reused
    /// The input ended.
    case endOfInput = "end_of_input"
}

/// A flow that ended during the last packet (or at the end of input), by value: the
/// slot it used may already hold another flow.
public struct FlowEnd: Sendable {
    public var flowID: UInt64
    /// The slot it used; it may already hold a new flow once the packet is processed.
    public var slot: Int32
    public var key: FlowKey
    public var reason: FlowEndReason
    public var firstSeen: UInt64
    public var lastSeen: UInt64
    /// TCP only: both endpoints' final states and whether the flow closed properly.
    public var tcp: TCPMonitor.FlowState?
}

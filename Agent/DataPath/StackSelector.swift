import MBoxFlow
import MBoxPacket

/// One rule of a stack selector: flows whose first packet matches every given field run
/// on `stack`.
public struct StackRule: Sendable, Equatable {
    public var stack: StackKind
    /// IP protocol number (nil: any).
    public var ipProtocol: UInt8?
    /// Destination blocks of the flow's first packet (empty: any).
    public var destinations: [AddressBlock]
    /// Destination ports (empty: any).
    public var ports: [ClosedRange<UInt16>]

    public init(stack: StackKind, ipProtocol: UInt8? = nil, destinations: [AddressBlock] = [], ports: [ClosedRange<UInt16>] = []) {
        self.stack = stack
        self.ipProtocol = ipProtocol
        self.destinations = destinations
        self.ports = ports
    }

    @inline(__always)
    func matches(_ headers: PacketHeaders) -> Bool {
        if let ipProtocol, headers.ipProtocol != ipProtocol { return false }
        if !destinations.isEmpty, !destinations.contains(where: { $0.contains(headers.destination) }) { return false }
        if !ports.isEmpty, !ports.contains(where: { $0.contains(headers.destinationPort) }) { return false }
        return true
    }
}

/// Picks each new flow's μStack: the first rule its first packet matches, else the
/// default. Runs once per flow, not per packet.
public struct StackSelector: Sendable, Equatable {
    public var rules: [StackRule]
    public var defaultStack: StackKind

    public init(rules: [StackRule] = [], defaultStack: StackKind = .tcpMonitor) {
        self.rules = rules
        self.defaultStack = defaultStack
    }

    @inline(__always)
    public func select(_ headers: PacketHeaders) -> StackKind {
        for rule in rules where rule.matches(headers) { return rule.stack }
        return defaultStack
    }

    /// Every stack some flow may run on.
    public var stacks: Set<StackKind> { Set(rules.map(\.stack) + [defaultStack]) }
}

import MBoxEvents
import MBoxFlow
import MBoxNFRunner
import MBoxPacket
import MBoxRules

/// One access-control entry; the first that matches a flow decides.
public struct FirewallRule: Sendable {
    public var allow: Bool
    public var ipProtocol: UInt8?
    public var source: AddressSpec
    public var sourcePorts: PortSpec
    public var destination: AddressSpec
    public var destinationPorts: PortSpec

    public init(allow: Bool, ipProtocol: UInt8? = nil, source: AddressSpec = .any, sourcePorts: PortSpec = .any,
                destination: AddressSpec = .any, destinationPorts: PortSpec = .any) {
        self.allow = allow
        self.ipProtocol = ipProtocol
        self.source = source
        self.sourcePorts = sourcePorts
        self.destination = destination
        self.destinationPorts = destinationPorts
    }

    func matches(_ key: FlowKey) -> Bool {
        (ipProtocol == nil || ipProtocol == key.ipProtocol) && source.contains(key.client)
            && sourcePorts.contains(key.clientPort) && destination.contains(key.server)
            && destinationPorts.contains(key.serverPort)
    }
}

/// Firewall: a 5-tuple/prefix ACL decided once per flow (client → server orientation)
/// and enforced on every packet of it by dropping.
public final class Firewall: NetworkFunction {
    public let rules: [FirewallRule]
    public let allowByDefault: Bool
    public private(set) var droppedPackets: UInt64 = 0
    public private(set) var blockedFlows: UInt64 = 0

    private var context: NFContext!
    private var blocked: UnsafeMutablePointer<Bool>!

    public init(rules: [FirewallRule], allowByDefault: Bool = true) {
        self.rules = rules
        self.allowByDefault = allowByDefault
    }

    deinit { blocked?.deallocate() }

    public func attach(_ context: NFContext) {
        self.context = context
        blocked = .allocate(capacity: context.capacity)
        blocked.initialize(repeating: false, count: context.capacity)
    }

    public func flowStarted(slot: Int32) {
        let key = context.flowKey(slot: slot)
        let allow = rules.first { $0.matches(key) }?.allow ?? allowByDefault
        blocked[Int(slot)] = !allow
        if !allow { blockedFlows &+= 1 }
    }

    public func handle(_ event: Event) {
        guard event.headers != nil, blocked[Int(event.slot)] else { return }
        droppedPackets &+= 1
        context.drop()
    }
}

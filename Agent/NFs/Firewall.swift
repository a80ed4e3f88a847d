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

// MARK: - Its kind: parameters read from the chain file, beside the NF.

extension Firewall {
    public static let kind = NFKind(type: "Firewall", action: .mayDrop, publishes: [], parameters: ["default", "rules"]) {
        parameters, _, _ in
        let fallback = parameters.string("default", default: "allow") ?? "allow"
        if fallback != "allow" && fallback != "drop" { parameters.error(nil, "Firewall 'default' is allow or drop") }
        var rules: [FirewallRule] = []
        let parser = RuleParser()
        if let (items, location) = parameters.list("rules") {
            for item in items {
                guard case let .map(fields) = item else {
                    parameters.error(location, "each Firewall rule is a mapping (action, proto, src, src_port, dst, dst_port)")
                    continue
                }
                var rule = FirewallRule(allow: true)
                for (key, value) in fields {
                    guard case let .string(text) = value.asString else {
                        parameters.error(location, "Firewall rule field '\(key)' must be a string"); continue
                    }
                    do {
                        switch key {
                        case "action":
                            guard text == "allow" || text == "drop" else { throw RuleProblem(file: "", line: 0, sid: nil, message: "action is allow or drop") }
                            rule.allow = text == "allow"
                        case "proto":
                            switch text {
                            case "tcp": rule.ipProtocol = IPProtocolNumber.tcp
                            case "udp": rule.ipProtocol = IPProtocolNumber.udp
                            case "icmp": rule.ipProtocol = IPProtocolNumber.icmp
                            case "any": rule.ipProtocol = nil
                            default: throw RuleProblem(file: "", line: 0, sid: nil, message: "proto is tcp, udp, icmp or any")
                            }
                        case "src": rule.source = try parser.parseAddress(text)
                        case "dst": rule.destination = try parser.parseAddress(text)
                        case "src_port": rule.sourcePorts = try parser.parsePorts(text)
                        case "dst_port": rule.destinationPorts = try parser.parsePorts(text)
                        default: throw RuleProblem(file: "", line: 0, sid: nil, message: "unknown field (action, proto, src, src_port, dst, dst_port)")
                        }
                    } catch let problem as RuleProblem {
                        parameters.error(location, "Firewall rule field '\(key)': \(problem.message)")
                    } catch {
                        parameters.error(location, "Firewall rule field '\(key)': \(error)")
                    }
                }
                rules.append(rule)
            }
        }
        let allow = fallback != "drop"
        let frozen = rules
        return NFPreparation { Firewall(rules: frozen, allowByDefault: allow) }
    }
}

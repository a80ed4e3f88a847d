import MBoxNFs
import Foundation
import MBoxDataPath
import MBoxFlow
import MBoxPacket
import MBoxTCPSplicer
import MBoxTransmit
import Yams

/// Reads a chain file (YAML) into a `ChainDefinition`, reporting every shape problem
/// with file, line and column. Meaning (NF types, events, parameters) is checked by
/// `ChainCompiler`.
public struct ChainParser {
    public init() {}

    public func parse(file path: String) throws -> ChainDefinition {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ChainErrors(errors: [ChainError(location: SourceLocation(file: path, line: 0, column: 0),
                                                  message: "cannot read chain file: \(error.localizedDescription)")])
        }
        return try parse(text, file: path)
    }

    public func parse(_ text: String, file: String) throws -> ChainDefinition {
        var errors: [ChainError] = []
        func at(_ node: Node?) -> SourceLocation {
            SourceLocation(file: file, line: node?.mark?.line ?? 0, column: node?.mark?.column ?? 0)
        }
        func fail(_ node: Node?, _ message: String) { errors.append(ChainError(location: at(node), message: message)) }

        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ChainErrors(errors: [ChainError(location: SourceLocation(file: file, line: Self.line(of: error), column: 0),
                                                  message: "not valid YAML: \(Self.problem(of: error))")])
        }
        guard let root, let mapping = root.mapping else {
            throw ChainErrors(errors: [ChainError(location: at(root), message: "a chain file is a mapping with 'name' and 'functions'")])
        }
        var chain = ChainDefinition(name: "", file: file)
        var sawFunctions = false
        for (key, value) in mapping {
            switch key.string ?? "" {
            case "name":
                chain.name = value.string ?? ""
            case "description":
                break
            case "stack":
                guard let stack = value.mapping else { fail(value, "'stack' is a mapping with 'type' and 'reassembly'"); continue }
                for (stackKey, stackValue) in stack {
                    switch stackKey.string ?? "" {
                    case "type":
                        let name = stackValue.string ?? ""
                        let defaults = StackKind.allCases.filter(\.takesAnyFlow).map(\.description)
                        guard let kind = StackKind(name: name), kind.takesAnyFlow else {
                            fail(stackValue, "stack type '\(name)' is not available; use \(defaults.joined(separator: " or "))"
                                + (StackKind(name: name)?.answersClients == true ? " (\(name) takes its services' flows: name it in 'select')" : ""))
                            continue
                        }
                        chain.stack = kind
                    case "reassembly":
                        guard let flag = stackValue.bool else { fail(stackValue, "'reassembly' is true or false"); continue }
                        chain.reassembly = flag
                    default:
                        fail(stackKey, "unknown stack key '\(stackKey.string ?? "")' (type, reassembly)")
                    }
                }
            case "select":
                guard let rules = value.sequence else { fail(value, "'select' is a list of stack rules ({stack: …, service/protocol/destination/ports: …})"); continue }
                for rule in rules { if let parsed = parseStackRule(rule, fail: fail) { chain.stackRules.append(parsed) } }
            case "placement":
                guard let labels = value.mapping else { fail(value, "'placement' is a mapping of agent labels (role: edge)"); continue }
                for (label, wanted) in labels {
                    guard let label = label.string, let wanted = wanted.string, !label.isEmpty else {
                        fail(wanted, "each placement label and value is a string"); continue
                    }
                    chain.placement[label] = wanted
                }
            case "derive":
                guard let flag = value.bool else { fail(value, "'derive' is true or false"); continue }
                chain.deriveFromRules = flag
            case "mode":
                guard let mode = value.string.flatMap(ChainDefinition.Mode.init(rawValue:)) else {
                    fail(value, "'mode' is sequential or parallel"); continue
                }
                chain.mode = mode
            case "parallel":
                guard let groups = value.sequence else { fail(value, "'parallel' is a list of lists of NF names"); continue }
                for group in groups {
                    guard let names = group.sequence?.map({ $0.string ?? "" }), names.count >= 2 else {
                        fail(group, "a parallel group lists at least two NF names"); continue
                    }
                    chain.parallelGroups.append((names, at(group)))
                }
            case "functions":
                sawFunctions = true
                guard let list = value.sequence else { fail(value, "'functions' is a list of NFs"); continue }
                for item in list { if let function = parseFunction(item, at: at, fail: fail) { chain.functions.append(function) } }
            default:
                fail(key, "unknown key '\(key.string ?? "")' (name, description, placement, stack, select, derive, mode, parallel, functions)")
            }
        }
        if chain.name.isEmpty { fail(root, "the chain has no 'name'") }
        if !sawFunctions || chain.functions.isEmpty { fail(root, "the chain has no 'functions'") }
        if !errors.isEmpty { throw ChainErrors(errors: errors) }
        return chain
    }

    /// One `select:` rule: `{stack: tcp_splicer, service: 10.0.0.100:80}` or
    /// `{stack: l2l3|tcp_monitor, protocol: tcp|udp|icmp|N, destination: CIDR or list, ports: N, "a-b" or list}`.
    private func parseStackRule(_ node: Node, fail: (Node?, String) -> Void) -> StackRuleDefinition? {
        guard let fields = node.mapping else { fail(node, "a stack rule is a mapping with 'stack'"); return nil }
        var rule = StackRule(stack: .l2l3)
        var sawStack = false
        var service: SplicedService?
        var ok = true
        func bad(_ at: Node?, _ message: String) { fail(at, message); ok = false }
        for (key, value) in fields {
            switch key.string ?? "" {
            case "stack":
                guard let kind = value.string.flatMap(StackKind.init(name:)) else {
                    bad(value, "stack is \(StackKind.allCases.map(\.description).joined(separator: ", "))"); continue
                }
                rule.stack = kind
                sawStack = true
            case "protocol":
                switch value.string ?? "" {
                case "tcp": rule.ipProtocol = IPProtocolNumber.tcp
                case "udp": rule.ipProtocol = IPProtocolNumber.udp
                case "icmp": rule.ipProtocol = IPProtocolNumber.icmp
                case let other:
                    guard let number = UInt8(other) else { bad(value, "protocol is tcp, udp, icmp or a number 0-255"); continue }
                    rule.ipProtocol = number
                }
            case "destination":
                let texts = value.sequence?.map { $0.string ?? "" } ?? [value.string ?? ""]
                for text in texts {
                    guard let block = AddressBlock(cidr: text) else { bad(value, "'\(text)' is not an address or CIDR block"); continue }
                    rule.destinations.append(block)
                }
            case "ports":
                let texts = value.sequence?.map { $0.string ?? "" } ?? [value.string ?? ""]
                for text in texts {
                    let bounds = text.split(separator: "-", maxSplits: 1).map { UInt16($0) }
                    guard !bounds.isEmpty, bounds.allSatisfy({ $0 != nil }), bounds.first!! <= bounds.last!! else {
                        bad(value, "'\(text)' is not a port or a range a-b"); continue
                    }
                    rule.ports.append(bounds.first!!...bounds.last!!)
                }
            case "service":
                guard let text = value.string, let colon = text.lastIndex(of: ":"),
                      let address = IPAddress(String(text[..<colon])), address.isIPv4,
                      let port = UInt16(text[text.index(after: colon)...]), port > 0 else {
                    bad(value, "service is an IPv4 address:port the splicer answers for (IPv6 services are not supported yet)"); continue
                }
                service = SplicedService(address: address, port: port)
            case "mac":
                guard let text = value.string, let mac = MACAddress(text) else { bad(value, "mac is aa:bb:cc:dd:ee:ff"); continue }
                if service != nil { service!.mac = mac } else { bad(value, "put 'mac' after 'service'") }
            default:
                bad(key, "unknown stack rule key '\(key.string ?? "")' (stack, service, mac, protocol, destination, ports)")
            }
        }
        if !sawStack { bad(node, "the stack rule has no 'stack'") }
        if rule.stack.answersClients {
            guard var answered = service else { bad(node, "a \(rule.stack) rule names the 'service' (address:port) it answers for"); return nil }
            answered.split = rule.stack == .tcpSplitProxy
            service = answered
            rule.ipProtocol = IPProtocolNumber.tcp
            rule.destinations = [AddressBlock(address: answered.address, prefix: 128)]
            rule.ports = [answered.port...answered.port]
        } else if service != nil {
            bad(node, "'service' belongs to tcp_splicer and tcp_split_proxy rules")
        }
        return ok ? StackRuleDefinition(rule: rule, service: service) : nil
    }

    private func parseFunction(_ node: Node, at: (Node?) -> SourceLocation,
                               fail: (Node?, String) -> Void) -> FunctionDefinition? {
        guard let mapping = node.mapping else { fail(node, "an NF is a mapping with 'name' and 'type'"); return nil }
        var function = FunctionDefinition(name: "", type: "", location: at(node))
        for (key, value) in mapping {
            switch key.string ?? "" {
            case "name": function.name = value.string ?? ""
            case "type": function.type = value.string ?? ""
            case "parameters":
                guard let parameters = value.mapping else { fail(value, "'parameters' is a mapping"); continue }
                for (name, parameter) in parameters {
                    function.parameters.append((name.string ?? "", Self.value(parameter), at(name)))
                }
            case "subscribe":
                guard let list = value.sequence else { fail(value, "'subscribe' is a list"); continue }
                for item in list {
                    if let subscription = parseSubscription(item, at: at, fail: fail) { function.subscriptions.append(subscription) }
                }
            case "publish":
                guard let list = value.sequence else { fail(value, "'publish' is a list of event types"); continue }
                function.publications = list.map { ($0.string ?? "", at($0)) }
            default:
                fail(key, "unknown NF key '\(key.string ?? "")' (name, type, parameters, subscribe, publish)")
            }
        }
        if function.name.isEmpty { fail(node, "an NF needs a 'name'") }
        if function.type.isEmpty { fail(node, "an NF needs a 'type'") }
        return function
    }

    private func parseSubscription(_ node: Node, at: (Node?) -> SourceLocation,
                                   fail: (Node?, String) -> Void) -> SubscriptionDefinition? {
        if let event = node.string, node.scalar != nil {
            return SubscriptionDefinition(event: event, location: at(node))
        }
        guard let mapping = node.mapping else { fail(node, "a subscription is an event name or a mapping with 'event'"); return nil }
        var subscription = SubscriptionDefinition(event: "", location: at(node))
        for (key, value) in mapping {
            switch key.string ?? "" {
            case "event": subscription.event = value.string ?? ""
            case "stack":
                subscription.stack = value.string ?? ""
                if !["client", "server", "sender", "receiver", "any"].contains(subscription.stack) {
                    fail(value, "'stack' is client, server, sender, receiver or any")
                }
            case "from":
                subscription.from = value.string ?? ""
                if !["client", "server", "any"].contains(subscription.from) { fail(value, "'from' is client, server or any") }
            case "dynamic":
                guard let flag = value.bool else { fail(value, "'dynamic' is true or false"); continue }
                subscription.dynamic = flag
            case "where":
                guard let conditions = value.mapping else { fail(value, "'where' is a mapping, e.g. {protocol: http}"); continue }
                for (condition, expected) in conditions {
                    if condition.string == "protocol" {
                        subscription.appProtocol = expected.string
                    } else {
                        fail(condition, "unknown condition '\(condition.string ?? "")' (protocol)")
                    }
                }
            default:
                fail(key, "unknown subscription key '\(key.string ?? "")' (event, stack, from, where, dynamic)")
            }
        }
        if subscription.event.isEmpty { fail(node, "a subscription needs an 'event'") }
        return subscription
    }

    static func value(_ node: Node) -> ParameterValue {
        if let sequence = node.sequence { return .list(sequence.map(value)) }
        if let mapping = node.mapping { return .map(mapping.map { ($0.key.string ?? "", value($0.value)) }) }
        // Quoted scalars stay strings; plain ones are typed as YAML 1.1 would.
        if let scalar = node.scalar, scalar.style == .plain {
            if let flag = node.bool { return .bool(flag) }
            if let number = node.int { return .int(number) }
            if let number = node.float { return .double(number) }
        }
        return .string(node.string ?? "")
    }

    /// The line a YAML error points at (0 when it names none).
    public static func line(of error: YamlError) -> Int {
        switch error {
        case let .scanner(_, _, mark, _), let .parser(_, _, mark, _), let .composer(_, _, mark, _): return mark.line
        default: return 0
        }
    }

    /// What a YAML error says, without its position.
    public static func problem(of error: YamlError) -> String {
        switch error {
        case let .scanner(_, problem, _, _), let .parser(_, problem, _, _), let .composer(_, problem, _, _): return problem
        default: return "\(error)"
        }
    }
}

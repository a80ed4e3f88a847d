/// `flow:established|not_established|stateless, to_server|to_client, only_stream|no_stream`.
/// The direction and stream mode also decide, at load time, which streams the engine
/// reassembles for the rule; the test of a packet is `holds`.
public enum FlowKeyword {
    static let keyword = RuleKeyword("flow") { builder, _, value in
        var direction: RuleFlowDirection?
        var established: Bool?
        for part in OptionBuilder.parts(value) {
            switch part {
            case "established", "not_established", "stateless":
                let wanted: Bool? = part == "established" ? true : part == "not_established" ? false : nil
                if established != nil, wanted != established { throw OptionError("flow: '\(value)' contradicts itself") }
                established = wanted
            case "to_server", "from_client", "to_client", "from_server":
                let wanted: RuleFlowDirection = part == "to_server" || part == "from_client" ? .toServer : .toClient
                if let direction, direction != wanted { throw OptionError("flow: '\(value)' names both directions") }
                direction = wanted
            case "only_stream":
                guard builder.rule.streamMode != .packetOnly else { throw OptionError("flow: only_stream with no_stream or tcp-pkt") }
                builder.rule.streamMode = .streamOnly
            case "no_stream":
                guard builder.rule.streamMode != .streamOnly else { throw OptionError("flow: no_stream with only_stream or tcp-stream") }
                builder.rule.streamMode = .packetOnly
            case "no_frag", "only_frag":
                throw OptionError("flow option '\(part)' is not supported")
            default:
                throw OptionError("flow option '\(part)' is not known")
            }
        }
        builder.rule.flowDirection = direction ?? .any
        builder.rule.established = established
    }

    /// Whether the packet travels the rule's direction in a flow whose state it asks for.
    @inline(__always)
    public static func holds(direction: RuleFlowDirection, established: Bool?, _ facts: PacketFacts) -> Bool {
        switch direction {
        case .toServer where !facts.toServer, .toClient where facts.toServer: return false
        default: break
        }
        if let established, established != facts.established { return false }
        return true
    }
}

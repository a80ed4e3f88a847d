import MBoxPacket

/// The keywords that are not payload tests: identity, flow, bits, thresholds, header tests.
extension OptionBuilder {
    mutating func applyOther(_ key: String, _ value: String) throws {
        switch key {
        case "sid":
            break
        case "msg":
            rule.message = parser.unquote(value)
        case "rev":
            guard let rev = UInt32(value) else { throw OptionError("rev '\(value)' is not a number") }
            rule.rev = rev
        case "gid":
            guard let gid = UInt32(value) else { throw OptionError("gid '\(value)' is not a number") }
            rule.gid = gid
        case "classtype":
            guard let (category, priority) = Classification.defaults[value] else {
                throw OptionError("unknown classtype '\(value)'")
            }
            let explicitPriority = rule.classtype == nil && rule.priority != 3
            rule.classtype = value
            rule.category = category
            if !explicitPriority { rule.priority = priority }
        case "priority":
            guard let priority = Int(value), (1...255).contains(priority) else {
                throw OptionError("priority '\(value)' is not 1–255")
            }
            rule.priority = priority
        case "reference":
            rule.references.append(value)
        case "metadata":
            rule.metadata += Self.parts(value).filter { !$0.isEmpty }
        case "target":
            switch value {
            case "src_ip": rule.targetIsSource = true
            case "dest_ip": rule.targetIsSource = false
            default: throw OptionError("target is src_ip or dest_ip, not '\(value)'")
            }
        case "flow": try flow(value)
        case "flowbits": try bits(value, keyword: "flowbits")
        case "xbits": try bits(value, keyword: "xbits")
        case "noalert": rule.noAlert = true
        case "threshold":
            guard rule.threshold == nil else { throw OptionError("two thresholds") }
            rule.threshold = try Self.threshold(value, keyword: key)
        case "detection_filter":
            guard rule.detectionFilter == nil else { throw OptionError("two detection_filters") }
            rule.detectionFilter = try Self.threshold("type detection_filter, " + value, keyword: key)
        case "dsize": rule.dsize = try Self.numberTest(value, keyword: key)
        case "urilen":
            let items = Self.parts(value)
            if items.count == 2, !["raw", "norm"].contains(items[1]) { throw OptionError("urilen: '\(items[1])' is not raw or norm") }
            rule.urilen = try Self.numberTest(items.first ?? "", keyword: key)
            if items.count == 2, items[1] == "raw" { _ = section(for: .httpURIRaw) } else { _ = section(for: .httpURI) }
        case "itype": rule.icmpType = try Self.numberTest(value, keyword: key)
        case "icode": rule.icmpCode = try Self.numberTest(value, keyword: key)
        case "ttl": rule.ipTTL = try Self.numberTest(value, keyword: key)
        case "flags": rule.tcpFlags = try Self.flags(value)
        case "stream_size": try streamSize(value)
        case "app-layer-protocol":
            guard rule.appProtocol == nil, let named = AppLayerProtocol(ruleName: value) else {
                throw OptionError("app-layer-protocol '\(value)' is not supported")
            }
            rule.appProtocol = named
        default:
            if RuleParser.informational.contains(key) { return }
            throw OptionError("unsupported keyword '\(key)'")
        }
    }

    mutating func flow(_ value: String) throws {
        var direction: RuleFlowDirection?
        var established: Bool?
        for part in Self.parts(value) {
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
                guard rule.streamMode != .packetOnly else { throw OptionError("flow: only_stream with no_stream or tcp-pkt") }
                rule.streamMode = .streamOnly
            case "no_stream":
                guard rule.streamMode != .streamOnly else { throw OptionError("flow: no_stream with only_stream or tcp-stream") }
                rule.streamMode = .packetOnly
            case "no_frag", "only_frag":
                throw OptionError("flow option '\(part)' is not supported")
            default:
                throw OptionError("flow option '\(part)' is not known")
            }
        }
        rule.flowDirection = direction ?? .any
        rule.established = established
    }

    mutating func bits(_ value: String, keyword: String) throws {
        let items = Self.parts(value)
        guard let first = items.first else { throw OptionError("\(keyword) needs a command") }
        if first == "noalert", items.count == 1 {
            rule.noAlert = true
            return
        }
        guard let command = BitOperation.Command(rawValue: first) else { throw OptionError("\(keyword): unknown command '\(first)'") }
        guard items.count >= 2, !items[1].isEmpty else { throw OptionError("\(keyword): '\(first)' needs a name") }
        var operation = BitOperation(command: command, names: [items[1]])
        if items[1].contains("|") {
            operation.names = items[1].split(separator: "|").map(String.init)
            operation.anyOf = true
            guard operation.isTest else { throw OptionError("\(keyword): '|' is only for isset/isnotset") }
        } else if items[1].contains("&") {
            operation.names = items[1].split(separator: "&").map(String.init)
            guard operation.isTest else { throw OptionError("\(keyword): '&' is only for isset/isnotset") }
        }
        if keyword == "xbits" {
            operation.scope = .pair
            var tracked = false
            for option in items.dropFirst(2) {
                let words = option.split(separator: " ").map(String.init)
                switch (words.first ?? "", words.count) {
                case ("track", 2):
                    switch words[1] {
                    case "ip_src": operation.scope = .source
                    case "ip_dst": operation.scope = .destination
                    case "ip_pair": operation.scope = .pair
                    default: throw OptionError("xbits: track '\(words[1])' is not ip_src, ip_dst or ip_pair")
                    }
                    tracked = true
                case ("expire", 2):
                    guard let seconds = UInt32(words[1]) else { throw OptionError("xbits: bad expire '\(words[1])'") }
                    operation.expire = seconds
                default:
                    throw OptionError("xbits: unknown option '\(option)'")
                }
            }
            guard tracked else { throw OptionError("xbits needs 'track ip_src|ip_dst|ip_pair'") }
        } else if items.count > 2 {
            throw OptionError("flowbits: unexpected '\(items[2])'")
        }
        rule.bits.append(operation)
    }

    mutating func streamSize(_ value: String) throws {
        let items = Self.parts(value)
        guard items.count == 3, let side = StreamSizeTest.Side(rawValue: items[0]),
              let op = NumberOperator(rawValue: items[1]), let number = UInt64(items[2]) else {
            throw OptionError("stream_size is 'server|client|both|either, operator, bytes'")
        }
        rule.streamSize = StreamSizeTest(side: side, op: op, value: number)
    }

    /// `type limit|threshold|both, track by_src|by_dst|…, count N, seconds N`.
    static func threshold(_ value: String, keyword: String) throws -> Threshold {
        var kind: Threshold.Kind?, track: Threshold.Track?, count: UInt32?, seconds: UInt32?
        for option in parts(value) {
            let words = option.split(separator: " ").map(String.init)
            guard words.count == 2 else { throw OptionError("\(keyword): '\(option)' is not 'name value'") }
            switch words[0] {
            case "type": kind = Threshold.Kind(rawValue: words[1])
            case "track": track = Threshold.Track(rawValue: words[1])
            case "count": count = UInt32(words[1])
            case "seconds": seconds = UInt32(words[1])
            default: throw OptionError("\(keyword): unknown option '\(words[0])'")
            }
        }
        guard let kind, let track, let count, let seconds else {
            throw OptionError("\(keyword) needs type, track, count and seconds, each valid")
        }
        return Threshold(kind: kind, track: track, count: count, seconds: seconds)
    }

    /// `flags:[+*!]FSRPAUCE0[,ignored]`.
    static func flags(_ value: String) throws -> FlagTest {
        let items = parts(value)
        guard let first = items.first, !first.isEmpty else { throw OptionError("flags needs flags") }
        func bits(_ text: Substring) throws -> UInt8 {
            var result: UInt8 = 0
            for letter in text {
                switch letter {
                case "F": result |= 0x01
                case "S": result |= 0x02
                case "R": result |= 0x04
                case "P": result |= 0x08
                case "A": result |= 0x10
                case "U": result |= 0x20
                case "E", "2": result |= 0x40
                case "C", "1": result |= 0x80
                case "0": break
                default: throw OptionError("flags: unknown flag '\(letter)'")
                }
            }
            return result
        }
        var text = Substring(first)
        var mode = FlagTest.Mode.exactly
        if let modifier = text.first, "+*!".contains(modifier) {
            mode = modifier == "+" ? .all : modifier == "*" ? .any : .not
            text = text.dropFirst()
        } else if let modifier = text.last, "+*!".contains(modifier) {
            mode = modifier == "+" ? .all : modifier == "*" ? .any : .not
            text = text.dropLast()
        }
        var test = FlagTest(mode: mode, flags: try bits(text))
        if items.count == 2 { test.ignored = try bits(Substring(items[1])) }
        guard items.count <= 2 else { throw OptionError("flags: too many parts") }
        return test
    }

    /// Checks what needs the whole rule.
    mutating func finish() throws -> Rule {
        for section in rule.sections {
            if let size = section.size {
                // Suricata refuses a bsize its contents cannot fit in.
                var needed = 0
                for case let .content(content) in section.matches where !content.negated {
                    needed = content.isRelative ? needed + (content.distance ?? 0) + content.bytes.count
                        : max(needed, (content.offset ?? 0) + content.bytes.count)
                }
                let maximum: UInt64
                switch size.kind {
                case let .range(_, high): maximum = high - 1
                case let .compare(op, value):
                    switch op {
                    case .equal, .lessOrEqual: maximum = value
                    case .less: maximum = value == 0 ? 0 : value - 1
                    default: maximum = .max
                    }
                }
                if UInt64(needed) > maximum {
                    throw OptionError("content length \(needed) exceeds bsize \(maximum): the rule cannot match", keyword: "bsize")
                }
            }
            if section.buffer.isLowercased {
                for case let .content(content) in section.matches where !content.nocase {
                    if content.bytes.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) {
                        throw OptionError("\(section.buffer) is lowercase: a content with capitals never matches",
                                          keyword: "content")
                    }
                }
            }
            if section.buffer == .ja3Hash || section.buffer == .ja3sHash {
                for case let .content(content) in section.matches where !content.negated && section.transforms.isEmpty {
                    guard content.bytes.count == 32, content.bytes.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                        throw OptionError("a JA3 hash content is 32 lowercase hex digits", keyword: "content")
                    }
                }
            }
            if section.buffer == .base64Data, !rule.sections.contains(where: { $0.matches.contains {
                if case .base64Decode = $0 { true } else { false } } }) {
                throw OptionError("base64_data without base64_decode", keyword: "base64_data")
            }
        }
        // An application buffer binds the rule to that protocol (and its transport).
        for section in rule.sections {
            guard let needed = section.buffer.appProtocol else { continue }
            if let named = rule.appProtocol, named != needed {
                throw OptionError("a \(needed) buffer in a rule for \(named)", keyword: "protocol")
            }
            rule.appProtocol = needed
            if rule.ipProtocol == nil, !needed.runsOverUDP { rule.ipProtocol = 6 }
            if let ipProtocol = rule.ipProtocol, ipProtocol != 6, !(needed.runsOverUDP && ipProtocol == 17) {
                throw OptionError("a \(needed) buffer in a rule for IP protocol \(ipProtocol)", keyword: "protocol")
            }
        }
        if let direction = bufferDirection() {
            if rule.flowDirection == .any { rule.flowDirection = direction }
        }
        return rule
    }

    /// The direction the rule's buffers imply, when they agree on one.
    func bufferDirection() -> RuleFlowDirection? {
        let directions = rule.sections.compactMap { $0.buffer.direction }
        if directions.contains(.toClient) { return .toClient }
        return directions.first
    }
}

import MBoxPacket

/// Parses Suricata/Snort rules (one per line; `#` comments; `\` continues a line).
///
/// Supported: the header (action, tcp/udp/icmp/ip, addresses with CIDR, lists,
/// negation and the usual variables, ports with ranges), `msg`, `sid`, `rev`, `gid`,
/// `classtype`, `priority`, `content` with `nocase`, `offset`, `depth`, `distance`,
/// `within`, `pcre` (flags i, s, m), `flow` (established, to_server/from_client,
/// to_client/from_server, only_stream, no_stream). Informational keywords
/// (`reference`, `metadata`, `target`, `fast_pattern`, `rawbytes`) are accepted.
/// A rule using anything else is not loaded, and the problem names file, line, sid and
/// keyword: a rule is never loaded with part of it silently ignored.
public struct RuleParser {
    /// Address and port variables (`$HOME_NET`, `$HTTP_PORTS`, …), Suricata's defaults.
    public var addressVariables: [String: String] = [
        "HOME_NET": "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]",
        "EXTERNAL_NET": "!$HOME_NET",
        "HTTP_SERVERS": "$HOME_NET", "SMTP_SERVERS": "$HOME_NET", "SQL_SERVERS": "$HOME_NET",
        "DNS_SERVERS": "$HOME_NET", "TELNET_SERVERS": "$HOME_NET", "AIM_SERVERS": "$EXTERNAL_NET",
        "DC_SERVERS": "$HOME_NET", "DNP3_SERVER": "$HOME_NET", "DNP3_CLIENT": "$HOME_NET",
        "MODBUS_CLIENT": "$HOME_NET", "MODBUS_SERVER": "$HOME_NET", "ENIP_CLIENT": "$HOME_NET",
        "ENIP_SERVER": "$HOME_NET",
    ]
    public var portVariables: [String: String] = [
        "HTTP_PORTS": "80", "SHELLCODE_PORTS": "!80", "ORACLE_PORTS": "1521", "SSH_PORTS": "22",
        "DNP3_PORTS": "20000", "MODBUS_PORTS": "502", "FILE_DATA_PORTS": "[$HTTP_PORTS,110,143]",
        "FTP_PORTS": "21", "GENEVE_PORTS": "6081", "VXLAN_PORTS": "4789", "TEREDO_PORTS": "3544",
    ]

    static let informational: Set<String> = ["reference", "metadata", "target", "fast_pattern", "rawbytes"]

    public init() {}

    /// Parses a whole rules file's text.
    public func parse(_ text: String, file: String = "<rules>") -> RuleSet {
        var set = RuleSet()
        var pending = "", pendingLine = 0
        var seenSIDs: [UInt32: Int] = [:]
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = raw.trimmingCharacters(in: " \t\r")
            if pending.isEmpty {
                if line.isEmpty || line.hasPrefix("#") { continue }
                pendingLine = index + 1
            }
            if line.hasSuffix("\\") {
                line.removeLast()
                pending += line
                continue
            }
            pending += line
            defer { pending = "" }
            do {
                let rule = try parseRule(pending, file: file, line: pendingLine)
                if let first = seenSIDs[rule.sid] {
                    set.problems.append(RuleProblem(file: file, line: pendingLine, sid: rule.sid,
                                                    message: "duplicate sid (first at line \(first))"))
                    continue
                }
                seenSIDs[rule.sid] = pendingLine
                set.rules.append(rule)
            } catch let problem as RuleProblem {
                set.problems.append(problem)
            } catch {
                set.problems.append(RuleProblem(file: file, line: pendingLine, sid: nil, message: "\(error)"))
            }
        }
        if !pending.isEmpty {
            set.problems.append(RuleProblem(file: file, line: pendingLine, sid: nil, message: "file ends inside a continued line"))
        }
        return set
    }

    /// Parses one rule.
    public func parseRule(_ text: String, file: String = "<rules>", line: Int = 1) throws -> Rule {
        func problem(_ message: String, sid: UInt32? = nil) -> RuleProblem {
            RuleProblem(file: file, line: line, sid: sid, message: message)
        }
        let headerProblem: (String) -> RuleProblem = { problem($0) }
        guard let open = text.firstIndex(of: "("), text.hasSuffix(")") else {
            throw problem("a rule is 'action proto src sport -> dst dport (options)'")
        }
        let header = text[..<open].split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard header.count == 7 else { throw problem("header needs 7 fields, found \(header.count): '\(text[..<open])'") }
        guard let action = RuleAction(rawValue: header[0]) else { throw problem("unknown action '\(header[0])'") }
        let proto: UInt8?
        switch header[1] {
        case "tcp", "tcp-pkt", "tcp-stream": proto = IPProtocolNumber.tcp
        case "udp": proto = IPProtocolNumber.udp
        case "icmp": proto = IPProtocolNumber.icmp
        case "ip", "any": proto = nil
        default: throw problem("protocol '\(header[1])' is not supported (tcp, udp, icmp, ip)")
        }
        guard header[4] == "->" || header[4] == "<>" else { throw problem("direction must be -> or <>, not '\(header[4])'") }
        var rule = Rule(action: action, ipProtocol: proto,
                        source: try address(header[2], headerProblem), sourcePorts: try ports(header[3], headerProblem),
                        destination: try address(header[5], headerProblem),
                        destinationPorts: try ports(header[6], headerProblem),
                        bidirectional: header[4] == "<>", file: file, line: line)

        let body = text[text.index(after: open)..<text.index(before: text.endIndex)]
        let options = try splitOptions(String(body), headerProblem)
        // sid first, so every later problem can name it.
        for (key, value) in options where key == "sid" {
            guard let sid = UInt32(value) else { throw problem("sid '\(value)' is not a number") }
            rule.sid = sid
        }
        guard rule.sid != 0 else { throw problem("rule has no sid") }
        let sid = rule.sid
        var lastContent: Int?
        for (key, value) in options {
            switch key {
            case "sid":
                break
            case "msg":
                rule.message = unquote(value)
            case "rev":
                guard let rev = UInt32(value) else { throw problem("rev '\(value)' is not a number", sid: sid) }
                rule.rev = rev
            case "gid":
                guard let gid = UInt32(value) else { throw problem("gid '\(value)' is not a number", sid: sid) }
                rule.gid = gid
            case "classtype":
                guard let (category, priority) = Classification.defaults[value] else {
                    throw problem("unknown classtype '\(value)'", sid: sid)
                }
                rule.classtype = value
                rule.category = category
                if rule.priority == 3 || rule.classtype == nil { rule.priority = priority }
            case "priority":
                guard let priority = Int(value), (1...255).contains(priority) else {
                    throw problem("priority '\(value)' is not 1–255", sid: sid)
                }
                rule.priority = priority
            case "content":
                var text = value
                if text.hasPrefix("!") {
                    throw problem("negated content (content:!) is not supported", sid: sid)
                }
                text = unquote(text)
                let bytes = try contentBytes(text) { problem($0, sid: sid) }
                guard !bytes.isEmpty else { throw problem("empty content", sid: sid) }
                rule.payload.append(.content(ContentMatch(bytes: bytes)))
                lastContent = rule.payload.count - 1
            case "nocase", "offset", "depth", "distance", "within":
                guard let index = lastContent, case var .content(content) = rule.payload[index] else {
                    throw problem("'\(key)' must follow a content", sid: sid)
                }
                if key == "nocase" {
                    content.nocase = true
                } else {
                    guard let number = Int(value) else { throw problem("\(key) '\(value)' is not a number", sid: sid) }
                    switch key {
                    case "offset":
                        guard number >= 0 else { throw problem("offset must not be negative", sid: sid) }
                        content.offset = number
                    case "depth":
                        guard number >= content.bytes.count else {
                            throw problem("depth \(number) is shorter than its content", sid: sid)
                        }
                        content.depth = number
                    case "distance":
                        content.distance = number
                    default:
                        guard number >= content.bytes.count else {
                            throw problem("within \(number) is shorter than its content", sid: sid)
                        }
                        content.within = number
                    }
                }
                if content.isRelative, content.offset != nil || content.depth != nil {
                    throw problem("a content cannot mix offset/depth with distance/within", sid: sid)
                }
                rule.payload[index] = .content(content)
            case "pcre":
                rule.payload.append(.pcre(try pcre(value) { problem($0, sid: sid) }))
                lastContent = nil
            case "flow":
                for part in value.split(separator: ",").map({ $0.trimmingCharacters(in: " ") }) {
                    switch part {
                    case "established": rule.established = true
                    case "not_established": rule.established = false
                    case "stateless": rule.established = nil
                    case "to_server", "from_client": rule.flowDirection = .toServer
                    case "to_client", "from_server": rule.flowDirection = .toClient
                    case "only_stream": rule.onlyStream = true
                    case "no_stream": rule.noStream = true
                    default: throw problem("flow option '\(part)' is not supported", sid: sid)
                    }
                }
            default:
                if Self.informational.contains(key) { continue }
                throw problem("unsupported keyword '\(key)'", sid: sid)
            }
        }
        if rule.onlyStream && rule.noStream { throw problem("flow:only_stream and no_stream together", sid: sid) }
        return rule
    }

    // MARK: - Options

    /// Splits `key:value; key; …`, honouring quotes and backslash escapes.
    private func splitOptions(_ body: String, _ problem: (String) -> RuleProblem) throws -> [(String, String)] {
        var options: [(String, String)] = []
        var current = ""
        var quoted = false, escaped = false
        for character in body {
            if escaped {
                current.append("\\")
                current.append(character)
                escaped = false
                continue
            }
            switch character {
            case "\\": escaped = true
            case "\"": quoted.toggle(); current.append(character)
            case ";" where !quoted:
                let option = current.trimmingCharacters(in: " \t")
                if !option.isEmpty {
                    if let colon = option.firstIndex(of: ":") {
                        options.append((option[..<colon].trimmingCharacters(in: " \t"),
                                        option[option.index(after: colon)...].trimmingCharacters(in: " \t")))
                    } else {
                        options.append((option, ""))
                    }
                }
                current = ""
            default:
                current.append(character)
            }
        }
        if quoted { throw problem("unterminated quote in options") }
        if !current.trimmingCharacters(in: " \t").isEmpty {
            throw problem("option '\(current.trimmingCharacters(in: " \t"))' is not terminated by ';'")
        }
        return options
    }

    /// Strips the quotes and undoes the rule language's escapes (`\"`, `\;`, `\\`, `\:`);
    /// other backslashes stay (a pcre's `\s` is the regex's).
    private func unquote(_ value: String) -> String {
        var text = value
        if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 { text = String(text.dropFirst().dropLast()) }
        var result = "", escaped = false
        for character in text {
            if escaped {
                if !"\";\\:".contains(character) { result.append("\\") }
                result.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else {
                result.append(character)
            }
        }
        if escaped { result.append("\\") }
        return result
    }

    /// Content text with `|hex bytes|` sections.
    private func contentBytes(_ text: String, _ problem: (String) -> RuleProblem) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var inHex = false
        var hex = ""
        for scalar in text.unicodeScalars {
            if scalar == "|" {
                if inHex {
                    let digits = hex.filter { !$0.isWhitespace }
                    guard digits.count % 2 == 0 else { throw problem("odd number of hex digits in |\(hex)|") }
                    var index = digits.startIndex
                    while index < digits.endIndex {
                        let next = digits.index(index, offsetBy: 2)
                        guard let byte = UInt8(digits[index..<next], radix: 16) else { throw problem("bad hex '\(digits[index..<next])'") }
                        bytes.append(byte)
                        index = next
                    }
                    hex = ""
                }
                inHex.toggle()
            } else if inHex {
                hex.unicodeScalars.append(scalar)
            } else {
                bytes += Array(String(scalar).utf8)
            }
        }
        if inHex { throw problem("unterminated |hex| in content") }
        return bytes
    }

    private func pcre(_ value: String, _ problem: (String) -> RuleProblem) throws -> PCREMatch {
        let text = unquote(value)
        guard text.hasPrefix("/"), let close = text.lastIndex(of: "/"), close != text.startIndex else {
            throw problem("pcre must be \"/expression/flags\"")
        }
        var match = PCREMatch(expression: String(text[text.index(after: text.startIndex)..<close]))
        for flag in text[text.index(after: close)...] {
            switch flag {
            case "i": match.caseless = true
            case "s": match.dotAll = true
            case "m": match.multiline = true
            default: throw problem("pcre flag '\(flag)' is not supported (i, s, m are)")
            }
        }
        return match
    }

    // MARK: - Header

    /// Parses an address part (`any`, `10.0.0.0/8`, `[a,!b]`, `$HOME_NET`) outside a rule.
    public func parseAddress(_ text: String) throws -> AddressSpec {
        try address(text) { RuleProblem(file: "", line: 0, sid: nil, message: $0) }
    }

    /// Parses a port part (`any`, `80`, `1024:`, `[80,443]`, `!22`) outside a rule.
    public func parsePorts(_ text: String) throws -> PortSpec {
        try ports(text) { RuleProblem(file: "", line: 0, sid: nil, message: $0) }
    }

    private func address(_ text: String, _ problem: (String) -> RuleProblem, depth: Int = 0) throws -> AddressSpec {
        guard depth < 8 else { throw problem("address variables nest too deeply") }
        if text == "any" { return .any }
        if text.hasPrefix("!") { return .not(try address(String(text.dropFirst()), problem, depth: depth + 1)) }
        if text.hasPrefix("$") {
            guard let value = addressVariables[String(text.dropFirst())] else { throw problem("unknown variable \(text)") }
            return try address(value, problem, depth: depth + 1)
        }
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw problem("unterminated address list '\(text)'") }
            return .list(try splitList(String(text.dropFirst().dropLast())).map { try address($0, problem, depth: depth + 1) })
        }
        let parts = text.split(separator: "/", maxSplits: 1).map(String.init)
        guard let ip = IPAddress(parts[0]) else { throw problem("'\(text)' is not an address") }
        let bits = ip.isIPv4 ? 32 : 128
        var prefix = bits
        if parts.count == 2 {
            guard let length = Int(parts[1]), (0...bits).contains(length) else { throw problem("bad prefix length in '\(text)'") }
            prefix = length
        }
        return .block(AddressBlock(address: ip, prefix: prefix + (ip.isIPv4 ? 96 : 0)))
    }

    private func ports(_ text: String, _ problem: (String) -> RuleProblem, depth: Int = 0) throws -> PortSpec {
        guard depth < 8 else { throw problem("port variables nest too deeply") }
        if text == "any" { return .any }
        if text.hasPrefix("!") { return .not(try ports(String(text.dropFirst()), problem, depth: depth + 1)) }
        if text.hasPrefix("$") {
            guard let value = portVariables[String(text.dropFirst())] else { throw problem("unknown variable \(text)") }
            return try ports(value, problem, depth: depth + 1)
        }
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw problem("unterminated port list '\(text)'") }
            return .list(try splitList(String(text.dropFirst().dropLast())).map { try ports($0, problem, depth: depth + 1) })
        }
        if let colon = text.firstIndex(of: ":") {
            let low = text[..<colon].isEmpty ? 0 : UInt16(text[..<colon])
            let high = text[text.index(after: colon)...].isEmpty ? 65535 : UInt16(text[text.index(after: colon)...])
            guard let low, let high, low <= high else { throw problem("bad port range '\(text)'") }
            return .range(low, high)
        }
        guard let port = UInt16(text) else { throw problem("'\(text)' is not a port") }
        return .range(port, port)
    }

    /// Splits a `[a,b,[c,d]]` body at top-level commas.
    private func splitList(_ body: String) throws -> [String] {
        var items: [String] = [], current = "", nesting = 0
        for character in body {
            switch character {
            case "[": nesting += 1; current.append(character)
            case "]": nesting -= 1; current.append(character)
            case "," where nesting == 0: items.append(current.trimmingCharacters(in: " ")); current = ""
            default: current.append(character)
            }
        }
        items.append(current.trimmingCharacters(in: " "))
        return items.filter { !$0.isEmpty }
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var scalars = Substring(self)
        while let first = scalars.first, set.contains(first) { scalars.removeFirst() }
        while let last = scalars.last, set.contains(last) { scalars.removeLast() }
        return String(scalars)
    }
}

import MBoxPacket

/// Parses Suricata rules (one per line; `#` comments; `\` continues a line; CRLF or LF).
///
/// The header takes actions alert/drop/pass/reject, IP protocols (`tcp`, `udp`, `icmp`,
/// `ip`, `tcp-pkt`, `tcp-stream`) and application protocols (`http`, `tls`, `dns`, `smtp`,
/// `ftp`, `ssh`, `smb`, …), addresses with CIDR, lists, negation and variables, ports with
/// ranges. The options are Suricata 7's payload keywords (content and its modifiers, pcre,
/// byte_test/byte_jump/byte_extract, isdataat, base64), sticky buffers (`InspectionBuffer`),
/// and the flow, bit, threshold and header keywords in `RuleParser+Keywords.swift`.
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

    /// Every keyword name the parser accepts, sorted (each keyword is a file in `Keywords/`).
    public static var keywords: [String] { RuleKeywords.byName.keys.sorted() }
    /// Names that two keywords claim (none; a test checks it).
    public static var keywordClashes: [String] { RuleKeywords.clashingNames }

    public init() {}

    /// Parses a whole rules file's text.
    public func parse(_ text: String, file: String = "<rules>") -> RuleSet {
        var set = RuleSet()
        var pending = "", pendingLine = 0
        var seenSIDs: [UInt64: Int] = [:]
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .enumerated() {
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
                let key = UInt64(rule.gid) << 32 | UInt64(rule.sid)
                if let first = seenSIDs[key] {
                    set.problems.append(RuleProblem(file: file, line: pendingLine, sid: rule.sid,
                                                    message: "duplicate sid (first at line \(first))", keyword: "sid"))
                    continue
                }
                seenSIDs[key] = pendingLine
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
        func problem(_ message: String) -> RuleProblem {
            RuleProblem(file: file, line: line, sid: nil, message: message)
        }
        let headerProblem: (String) -> RuleProblem = { problem($0) }
        guard let open = text.firstIndex(of: "("), text.hasSuffix(")") else {
            throw problem("a rule is 'action proto src sport -> dst dport (options)'")
        }
        let header = text[..<open].split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard header.count == 7 else { throw problem("header needs 7 fields, found \(header.count): '\(text[..<open])'") }
        guard let action = RuleAction(rawValue: header[0]) else { throw problem("unknown action '\(header[0])'") }
        var proto: UInt8?
        var appProtocol: AppLayerProtocol?
        var streamMode = StreamMode.both
        switch header[1] {
        case "tcp": proto = IPProtocolNumber.tcp
        case "tcp-pkt": proto = IPProtocolNumber.tcp; streamMode = .packetOnly
        case "tcp-stream": proto = IPProtocolNumber.tcp; streamMode = .streamOnly
        case "udp": proto = IPProtocolNumber.udp
        case "icmp": proto = IPProtocolNumber.icmp
        case "icmpv6": proto = IPProtocolNumber.icmpv6
        case "ip", "pkthdr": proto = nil
        default:
            guard let named = AppLayerProtocol(ruleName: header[1]) else {
                throw RuleProblem(file: file, line: line, sid: nil,
                                  message: "protocol '\(header[1])' is not supported", keyword: "protocol \(header[1])")
            }
            appProtocol = named
            proto = named.runsOverUDP ? nil : IPProtocolNumber.tcp
        }
        guard header[4] == "->" || header[4] == "<>" else { throw problem("direction must be -> or <>, not '\(header[4])'") }
        var rule = Rule(action: action, ipProtocol: proto,
                        source: try address(header[2], headerProblem), sourcePorts: try ports(header[3], headerProblem),
                        destination: try address(header[5], headerProblem),
                        destinationPorts: try ports(header[6], headerProblem),
                        bidirectional: header[4] == "<>", file: file, line: line)
        rule.appProtocol = appProtocol
        rule.streamMode = streamMode

        let body = text[text.index(after: open)..<text.index(before: text.endIndex)]
        let options = try splitOptions(String(body), headerProblem)
        // sid first, so every later problem can name it.
        for (key, value) in options where key == "sid" {
            guard let sid = UInt32(value), sid != 0 else { throw problem("sid '\(value)' is not a number above 0") }
            rule.sid = sid
        }
        guard rule.sid != 0 else { throw problem("rule has no sid") }
        var builder = OptionBuilder(rule: rule, parser: self)
        for (key, value) in options {
            do {
                try builder.apply(key, value)
            } catch let message as OptionError {
                throw RuleProblem(file: file, line: line, sid: rule.sid, message: message.text, keyword: message.keyword ?? key)
            }
        }
        do {
            return try builder.finish()
        } catch let message as OptionError {
            throw RuleProblem(file: file, line: line, sid: rule.sid, message: message.text, keyword: message.keyword)
        }
    }

    // MARK: - Options

    /// Splits `key:value; key; …`, honouring quotes and backslash escapes.
    func splitOptions(_ body: String, _ problem: (String) -> RuleProblem) throws -> [(String, String)] {
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
    func unquote(_ value: String) -> String {
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
    func contentBytes<Failure: Error>(_ text: String, _ problem: (String) -> Failure) throws -> [UInt8] {
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
        if text == "!any" { throw problem("'!any' matches no address") }
        if text.hasPrefix("!") { return .not(try address(String(text.dropFirst()), problem, depth: depth + 1)) }
        if text.hasPrefix("$") {
            guard let value = addressVariables[String(text.dropFirst())] else { throw problem("unknown variable \(text)") }
            return try address(value, problem, depth: depth + 1)
        }
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw problem("unterminated address list '\(text)'") }
            guard text.count > 2 else { throw problem("empty address list '[]'") }
            return .list(try splitList(String(text.dropFirst().dropLast())).map { try address($0, problem, depth: depth + 1) })
        }
        // Empty pieces kept: "" (from a lone "!") and "/8" are refused, not indexed past.
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
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
        if text == "!any" { throw problem("'!any' matches no port") }
        if text.hasPrefix("!") { return .not(try ports(String(text.dropFirst()), problem, depth: depth + 1)) }
        if text.hasPrefix("$") {
            guard let value = portVariables[String(text.dropFirst())] else { throw problem("unknown variable \(text)") }
            return try ports(value, problem, depth: depth + 1)
        }
        if text.hasPrefix("[") {
            guard text.hasSuffix("]") else { throw problem("unterminated port list '\(text)'") }
            guard text.count > 2 else { throw problem("empty port list '[]'") }
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

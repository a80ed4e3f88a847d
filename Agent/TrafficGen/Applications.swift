/// The application a generated flow carries.
public enum Application: String, CaseIterable, Sendable {
    case http, tls, ssh, dns

    public var serverPort: UInt16 {
        switch self {
        case .http: return 80
        case .tls: return 443
        case .ssh: return 22
        case .dns: return 53
        }
    }
}

/// Application payloads: realistic enough for protocol detection and signatures.
enum Payloads {
    static let hosts = ["example.com", "shop.example.net", "api.example.org", "cdn.example.com", "mail.example.net"]
    static let paths = ["/", "/index.html", "/login", "/search", "/api/v1/items", "/static/app.js"]

    static func httpRequest(rng: inout SplitMix64, insert attack: String?, bodySize: Int) -> [UInt8] {
        let host = hosts.randomElement(using: &rng)!
        let path = paths.randomElement(using: &rng)!
        var body = "q=" + String(repeating: "a", count: max(0, bodySize))
        if let attack { body = "q=1' " + attack + " id,pw from users--&" + body }
        let head = "POST \(path) HTTP/1.1\r\nHost: \(host)\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
            + "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
        return Array((head + body).utf8)
    }

    static func httpResponse(rng: inout SplitMix64, bodySize: Int) -> [UInt8] {
        var body = [UInt8]()
        body.reserveCapacity(bodySize)
        let alphabet = Array("<html><body>Lorem ipsum dolor sit amet</body></html>\n".utf8)
        for index in 0..<bodySize { body.append(alphabet[(index + Int(rng.next() % 3)) % alphabet.count]) }
        let head = "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nContent-Type: text/html\r\nContent-Length: \(bodySize)\r\n\r\n"
        return Array(head.utf8) + body
    }

    /// A TLS 1.2/1.3 ClientHello record carrying the server name (SNI) extension.
    static func tlsClientHello(serverName: String, rng: inout SplitMix64) -> [UInt8] {
        let name = Array(serverName.utf8)
        var sni = bigEndian(UInt16(name.count + 3)) + [0] + bigEndian(UInt16(name.count)) + name
        sni = bigEndian(UInt16(0)) + bigEndian(UInt16(sni.count)) + sni
        let versions: [UInt8] = [0x00, 0x2b, 0x00, 0x05, 0x04, 0x03, 0x04, 0x03, 0x03]
        let groups: [UInt8] = [0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d]
        let extensions = sni + versions + groups
        var hello: [UInt8] = [0x03, 0x03]
        for _ in 0..<32 { hello.append(UInt8(truncatingIfNeeded: rng.next())) }
        hello += [0]  // no session id
        hello += [0x00, 0x06, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f]
        hello += [0x01, 0x00]
        hello += bigEndian(UInt16(extensions.count)) + extensions
        let handshake = [0x01] + Array(bigEndian(UInt32(hello.count)).dropFirst()) + hello
        return [0x16, 0x03, 0x01] + bigEndian(UInt16(handshake.count)) + handshake
    }

    /// A ServerHello record followed by opaque application data.
    static func tlsServerFlight(rng: inout SplitMix64, size: Int) -> [UInt8] {
        var hello: [UInt8] = [0x03, 0x03]
        for _ in 0..<32 { hello.append(UInt8(truncatingIfNeeded: rng.next())) }
        hello += [0, 0x13, 0x01, 0, 0x00, 0x06, 0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]
        let handshake = [0x02] + Array(bigEndian(UInt32(hello.count)).dropFirst()) + hello
        var flight = [0x16, 0x03, 0x03] + bigEndian(UInt16(handshake.count)) + handshake
        var data = [UInt8]()
        for _ in 0..<size { data.append(UInt8(truncatingIfNeeded: rng.next())) }
        flight += [0x17, 0x03, 0x03] + bigEndian(UInt16(data.count)) + data
        return flight
    }

    static func sshBanner(server: Bool) -> [UInt8] {
        Array((server ? "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n" : "SSH-2.0-OpenSSH_9.6\r\n").utf8)
    }

    static func sshKexInit(rng: inout SplitMix64) -> [UInt8] {
        let algorithms = "curve25519-sha256,ecdh-sha2-nistp256,diffie-hellman-group14-sha256"
        var payload: [UInt8] = [20]
        for _ in 0..<16 { payload.append(UInt8(truncatingIfNeeded: rng.next())) }
        payload += bigEndian(UInt32(algorithms.utf8.count)) + Array(algorithms.utf8)
        let padding = 8 - (payload.count + 5) % 8 + 4
        var packet = bigEndian(UInt32(payload.count + padding + 1)) + [UInt8(padding)] + payload
        packet += [UInt8](repeating: 0, count: padding)
        return packet
    }

    static func dnsQuery(id: UInt16, name: String) -> [UInt8] {
        var message = bigEndian(id) + [0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
        message += dnsName(name) + [0, 1, 0, 1]
        return message
    }

    static func dnsResponse(id: UInt16, name: String, address: [UInt8]) -> [UInt8] {
        var message = bigEndian(id) + [0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]
        message += dnsName(name) + [0, 1, 0, 1]
        message += [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4] + address
        return message
    }

    private static func dnsName(_ name: String) -> [UInt8] {
        var bytes = [UInt8]()
        for label in name.split(separator: ".") {
            bytes.append(UInt8(label.utf8.count))
            bytes += Array(label.utf8)
        }
        return bytes + [0]
    }
}

import MBoxPacket
import MBoxRules

/// Application-layer buffers ready for detection, and the direction whose data completed them.
public struct AppTransaction {
    public var buffers: AppBuffers
    public var toServer: Bool
}

/// One TCP flow's application layer: detects the protocol from either direction's first
/// bytes, then runs that protocol's parser over both reassembled streams and turns what
/// it parses into transactions. Made for a flow at its first payload.
public final class AppLayerFlow {
    public private(set) var detected: AppLayerProtocol?
    /// Bytes kept per direction while the protocol is unknown.
    public static let detectionLimit = 4096
    private var prefixes: [[UInt8]] = [[], []]
    private var gaveUp = false
    private var requests: HTTPParser?
    private var responses: HTTPParser?
    /// Request buffers waiting for their response (pipelining keeps several).
    private var openRequests: [AppBuffers] = []
    private var tls: [TLSParser] = []
    private var dnsPending: [[UInt8]] = [[], []]
    private var sshSeen = [false, false]
    private var sshPending: [[UInt8]] = [[], []]
    public let bodyLimit: Int
    /// The server's port: DNS over TCP is recognised on port 53 by its framing.
    public let serverPort: UInt16
    /// The buffers some rule reads: no others are built.
    public let wanted: BufferMask

    /// The protocols whose messages some rule reads; others are only detected.
    public let parsed: Set<AppLayerProtocol>

    public init(serverPort: UInt16, wanted: BufferMask = .all, parsed: Set<AppLayerProtocol> = Set(AppLayerProtocol.allCases),
                bodyLimit: Int = 100 * 1024) {
        self.serverPort = serverPort
        self.wanted = wanted
        self.parsed = parsed
        self.bodyLimit = bodyLimit
    }

    /// Sets `buffer` when some rule reads it (its bytes are only made then).
    @inline(__always)
    private func put(_ buffers: inout AppBuffers, _ buffer: InspectionBuffer, _ bytes: @autoclosure () -> [UInt8]?) {
        if wanted.contains(buffer) { buffers.set(buffer, bytes()) }
    }

    /// Feeds the next contiguous bytes of one direction.
    public func feed(_ bytes: UnsafeRawBufferPointer, toServer: Bool) -> [AppTransaction] {
        guard let detected else {
            if gaveUp { return [] }
            let side = toServer ? 0 : 1
            if prefixes[side].count < Self.detectionLimit { prefixes[side] += bytes.prefix(Self.detectionLimit - prefixes[side].count) }
            let found = prefixes[side].withUnsafeBytes { bytes -> AppLayerProtocol? in
                if serverPort == 53, bytes.count >= 14,
                   DNSMessage(UnsafeRawBufferPointer(rebasing: bytes[2...])) != nil { return .dns }
                return AppDetect.tcp(bytes, toServer: toServer)
            }
            guard let found else {
                if prefixes[0].count >= Self.detectionLimit || prefixes[1].count >= Self.detectionLimit {
                    gaveUp = true
                    prefixes = [[], []]
                }
                return []
            }
            start(found)
            // Replay what each direction sent so far, the detecting side last.
            let kept = prefixes
            prefixes = [[], []]
            var transactions: [AppTransaction] = []
            for index in [1 - side, side] where !kept[index].isEmpty {
                transactions += kept[index].withUnsafeBytes { parse($0, toServer: index == 0) }
            }
            return transactions
        }
        _ = detected
        return parse(bytes, toServer: toServer)
    }

    /// The flow ended: bodies read until close, partial messages.
    public func finish() -> [AppTransaction] {
        guard detected == .http else { return [] }
        var transactions: [AppTransaction] = []
        if var parser = requests {
            for message in parser.finish() { transactions += request(message) }
            requests = parser
        }
        if var parser = responses {
            for message in parser.finish() { transactions += response(message) }
            responses = parser
        }
        return transactions
    }

    private func start(_ found: AppLayerProtocol) {
        detected = found
        guard parsed.contains(found) else { return }
        switch found {
        case .http:
            requests = HTTPParser(isRequest: true, bodyLimit: bodyLimit,
                                  keepsBodies: wanted.contains(.httpRequestBody) || wanted.contains(.fileData))
            responses = HTTPParser(isRequest: false, bodyLimit: bodyLimit,
                                   keepsBodies: wanted.contains(.httpResponseBody) || wanted.contains(.fileData))
        case .tls:
            let wants = TLSParser.Wanted(serverName: wanted.contains(.tlsSNI), ja3: wanted.contains(.ja3Hash) || wanted.contains(.ja3String),
                                         ja3s: wanted.contains(.ja3sHash),
                                         certificates: wanted.contains(.tlsCerts) || wanted.contains(.tlsCertSubject)
                                            || wanted.contains(.tlsCertIssuer) || wanted.contains(.tlsCertSerial))
            tls = [TLSParser(toServer: true, wanted: wants), TLSParser(toServer: false, wanted: wants)]
        default:
            break
        }
    }

    private func parse(_ bytes: UnsafeRawBufferPointer, toServer: Bool) -> [AppTransaction] {
        guard let detected, parsed.contains(detected) else { return [] }
        switch detected {
        case .http:
            if toServer {
                guard var parser = requests else { return [] }
                let messages = parser.feed(bytes)
                requests = parser
                return messages.flatMap(request)
            }
            guard var parser = responses else { return [] }
            let messages = parser.feed(bytes)
            responses = parser
            return messages.flatMap(response)
        case .tls:
            let index = toServer ? 0 : 1
            return tls[index].feed(bytes).map { tlsTransaction($0, toServer: toServer) }
        case .ssh:
            let index = toServer ? 0 : 1
            guard !sshSeen[index] else { return [] }
            // The banner line may come in several segments: keep it until its end (255 bytes at most).
            sshPending[index] += bytes.prefix(256 - sshPending[index].count)
            guard sshPending[index].contains(0x0A) || sshPending[index].count >= 256 else { return [] }
            sshSeen[index] = true
            let line = sshPending[index]
            sshPending[index] = []
            guard let banner = line.withUnsafeBytes({ SSHBanner($0) }) else { return [] }
            var buffers = AppBuffers(protocolName: .ssh)
            buffers.set(.sshProto, banner.protocolVersion)
            buffers.set(.sshSoftware, banner.software)
            return [AppTransaction(buffers: buffers, toServer: toServer)]
        case .dns:
            return dnsOverTCP(bytes, toServer: toServer)
        default:
            return []
        }
    }

    // MARK: - HTTP

    private func request(_ message: HTTPMessage) -> [AppTransaction] {
        var buffers = AppBuffers(protocolName: .http)
        put(&buffers, .httpMethod, message.first)
        put(&buffers, .httpURIRaw, message.second)
        put(&buffers, .httpURI, URINormaliser.normalise(message.second))
        put(&buffers, .httpProtocol, message.third)
        put(&buffers, .httpRequestLine, message.startLine)
        if wanted.contains(.httpHost) || wanted.contains(.httpHostRaw), let host = message.header("Host") {
            put(&buffers, .httpHostRaw, host)
            var name = host.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
            // A port after the last colon, unless that colon is inside an IPv6 literal
            // ("[::1]:80" keeps "[::1]"); a Host that starts with ":" has nothing before it.
            if let colon = name.lastIndex(of: UInt8(ascii: ":")),
               !name.contains(UInt8(ascii: "]")) || (colon > 0 && name[colon - 1] == UInt8(ascii: "]")) {
                name = Array(name[..<colon])
            }
            while name.last == UInt8(ascii: ".") { name.removeLast() }
            put(&buffers, .httpHost, name)
        }
        put(&buffers, .httpUserAgent, message.header("User-Agent"))
        put(&buffers, .httpReferer, message.header("Referer"))
        put(&buffers, .httpAccept, message.header("Accept"))
        put(&buffers, .httpAcceptEncoding, message.header("Accept-Encoding"))
        put(&buffers, .httpAcceptLanguage, message.header("Accept-Language"))
        put(&buffers, .httpCookie, message.header("Cookie"))
        setCommon(&buffers, message)
        if !message.body.isEmpty {
            let body = decodedBody(message)
            put(&buffers, .httpRequestBody, body)
            put(&buffers, .fileData, body)
        }
        responses?.pendingMethods.append(message.first)
        openRequests.append(buffers)
        if openRequests.count > 32 { openRequests.removeFirst() }
        return [AppTransaction(buffers: buffers, toServer: true)]
    }

    private func response(_ message: HTTPMessage) -> [AppTransaction] {
        var buffers = openRequests.isEmpty ? AppBuffers(protocolName: .http) : openRequests.removeFirst()
        put(&buffers, .httpStatCode, message.second)
        put(&buffers, .httpStatMessage, message.third)
        put(&buffers, .httpResponseLine, message.startLine)
        put(&buffers, .httpServer, message.header("Server"))
        put(&buffers, .httpLocation, message.header("Location"))
        put(&buffers, .httpCookie, message.header("Set-Cookie"))
        put(&buffers, .httpProtocol, message.first)
        setCommon(&buffers, message)
        let body = message.body.isEmpty ? nil : decodedBody(message)
        put(&buffers, .httpResponseBody, body)
        put(&buffers, .fileData, body)
        return [AppTransaction(buffers: buffers, toServer: false)]
    }

    /// The body as inspected: decompressed when its Content-Encoding is gzip or deflate.
    private func decodedBody(_ message: HTTPMessage) -> [UInt8] {
        guard let encoding = BodyDecoder.encoding(message.header("Content-Encoding")),
              let decoded = BodyDecoder.decode(message.body, encoding, limit: bodyLimit) else { return message.body }
        return decoded
    }

    /// Buffers both sides have; a response's replace its request's.
    private func setCommon(_ buffers: inout AppBuffers, _ message: HTTPMessage) {
        put(&buffers, .httpContentType, message.header("Content-Type"))
        put(&buffers, .httpContentLength, message.header("Content-Length"))
        put(&buffers, .httpConnection, message.header("Connection"))
        put(&buffers, .httpStart, message.head)
        put(&buffers, .httpHeaderRaw, message.rawHeaders)
        guard wanted.contains(.httpHeader) || wanted.contains(.httpHeaderNames) else { return }
        let lineEnd: [UInt8] = [0x0D, 0x0A]
        var header: [UInt8] = [], names: [UInt8] = lineEnd
        header.reserveCapacity(message.rawHeaders.count)
        names.reserveCapacity(message.rawHeaders.count / 2)
        for (name, value) in message.headers {
            names.append(contentsOf: name)
            names.append(contentsOf: lineEnd)
            if Self.isCookie(name) { continue }
            header.append(contentsOf: name)
            header.append(UInt8(ascii: ":"))
            header.append(0x20)
            header.append(contentsOf: value)
            header.append(contentsOf: lineEnd)
        }
        names.append(contentsOf: lineEnd)
        put(&buffers, .httpHeader, header)
        put(&buffers, .httpHeaderNames, names)
    }

    /// `Cookie` or `Set-Cookie`: kept out of `http.header`, as Suricata does.
    static func isCookie(_ name: [UInt8]) -> Bool {
        let cookie: StaticString = "cookie", setCookie: StaticString = "set-cookie"
        for candidate in [cookie, setCookie] where candidate.utf8CodeUnitCount == name.count {
            var same = true
            for index in 0..<name.count where name[index] | 0x20 != candidate.utf8Start[index] { same = false; break }
            if same { return true }
        }
        return false
    }

    // MARK: - TLS

    private func tlsTransaction(_ facts: TLSHandshakeFacts, toServer: Bool) -> AppTransaction {
        var buffers = AppBuffers(protocolName: .tls)
        if toServer {
            buffers.set(.tlsSNI, facts.serverName)
            buffers.set(.ja3String, facts.ja3)
            buffers.set(.ja3Hash, facts.ja3Hash)
        } else {
            if facts.certificates.isEmpty {
                buffers.set(.ja3sHash, facts.ja3Hash)
            } else {
                for certificate in facts.certificates { buffers.add(.tlsCerts, certificate) }
                buffers.set(.tlsCertSubject, facts.subject)
                buffers.set(.tlsCertIssuer, facts.issuer)
                buffers.set(.tlsCertSerial, facts.serial)
            }
        }
        return AppTransaction(buffers: buffers, toServer: toServer)
    }

    // MARK: - DNS

    /// A DNS message as a transaction (UDP, or one message of a TCP stream).
    public static func dns(_ bytes: UnsafeRawBufferPointer, toServer: Bool) -> AppTransaction? {
        guard let message = DNSMessage(bytes) else { return nil }
        var buffers = AppBuffers(protocolName: .dns)
        if !message.isResponse { for query in message.queries { buffers.add(.dnsQuery, query) } }
        return AppTransaction(buffers: buffers, toServer: toServer)
    }

    private func dnsOverTCP(_ bytes: UnsafeRawBufferPointer, toServer: Bool) -> [AppTransaction] {
        let index = toServer ? 0 : 1
        dnsPending[index] += bytes
        var transactions: [AppTransaction] = []
        while dnsPending[index].count >= 2 {
            let length = Int(dnsPending[index][0]) << 8 | Int(dnsPending[index][1])
            guard dnsPending[index].count >= 2 + length else { break }
            let message = Array(dnsPending[index][2..<(2 + length)])
            dnsPending[index].removeFirst(2 + length)
            if let transaction = message.withUnsafeBytes({ Self.dns($0, toServer: toServer) }) { transactions.append(transaction) }
        }
        if dnsPending[index].count > 70_000 { dnsPending[index] = [] }
        return transactions
    }
}

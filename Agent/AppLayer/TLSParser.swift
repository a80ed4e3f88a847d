import Crypto

/// What one direction of a TLS handshake showed.
public struct TLSHandshakeFacts {
    public var serverName: [UInt8]?
    /// JA3 (client) / JA3S (server): the string and its MD5 in lowercase hex.
    public var ja3: [UInt8]?
    public var ja3Hash: [UInt8]?
    /// Certificates as sent (DER), the first one's subject, issuer and serial as Suricata prints them.
    public var certificates: [[UInt8]] = []
    public var subject: [UInt8]?
    public var issuer: [UInt8]?
    public var serial: [UInt8]?
}

/// Parses one direction of a TLS connection's handshake records (TLS 1.0–1.2 in the clear;
/// in TLS 1.3 the certificate is encrypted and only the hellos are seen). Handshake bytes
/// are kept up to `limit`, across records and segments.
public struct TLSParser {
    public let toServer: Bool
    /// What some rule reads: nothing else is computed.
    public struct Wanted: Sendable {
        public var serverName = true, ja3 = true, ja3s = true, certificates = true
        public init(serverName: Bool = true, ja3: Bool = true, ja3s: Bool = true, certificates: Bool = true) {
            self.serverName = serverName
            self.ja3 = ja3
            self.ja3s = ja3s
            self.certificates = certificates
        }
        var any: Bool { serverName || ja3 || ja3s || certificates }
    }
    public let wanted: Wanted
    public static let limit = 64 * 1024
    private var pending: [UInt8] = []
    private var handshake: [UInt8] = []
    private var done = false
    public private(set) var malformed = 0

    public init(toServer: Bool, wanted: Wanted = Wanted()) {
        self.toServer = toServer
        self.wanted = wanted
        // A direction nothing is read from is not parsed at all.
        done = toServer ? !(wanted.serverName || wanted.ja3) : !(wanted.ja3s || wanted.certificates)
    }

    /// Feeds stream bytes; returns facts each time a hello or certificate message completes.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [TLSHandshakeFacts] {
        guard !done else { return [] }
        pending += bytes
        var found: [TLSHandshakeFacts] = []
        while pending.count >= 5 {
            let type = pending[0]
            let length = Int(pending[3]) << 8 | Int(pending[4])
            guard pending[1] == 3, length <= 18_432 else { malformed += 1; done = true; pending = []; return found }
            guard pending.count >= 5 + length else { break }
            if type == 22 {
                handshake += pending[5..<(5 + length)]
            } else if type == 20 || type == 23 {
                // ChangeCipherSpec or application data: the clear handshake is over.
                done = true
            }
            pending.removeFirst(5 + length)
            found += messages()
            if done || handshake.count > Self.limit { done = true; pending = []; break }
        }
        if pending.count > Self.limit { done = true; pending = [] }
        return found
    }

    private mutating func messages() -> [TLSHandshakeFacts] {
        var found: [TLSHandshakeFacts] = []
        while handshake.count >= 4 {
            let length = Int(handshake[1]) << 16 | Int(handshake[2]) << 8 | Int(handshake[3])
            guard handshake.count >= 4 + length else { break }
            let type = handshake[0]
            var facts = TLSHandshakeFacts()
            var wantedMessage = true
            switch type {
            case 1 where toServer:
                if !Self.clientHello(handshake[4..<(4 + length)], ja3: wanted.ja3, into: &facts) { malformed += 1; wantedMessage = false }
            case 2 where !toServer && wanted.ja3s:
                if !Self.serverHello(Array(handshake[4..<(4 + length)]), into: &facts) { malformed += 1; wantedMessage = false }
            case 11 where !toServer && wanted.certificates:
                if !Self.certificate(Array(handshake[4..<(4 + length)]), into: &facts) { malformed += 1; wantedMessage = false }
                // Nothing after the certificate is read.
                done = true
            default:
                wantedMessage = false
            }
            handshake.removeFirst(4 + length)
            if wantedMessage { found.append(facts) }
        }
        return found
    }

    /// GREASE values (RFC 8701) are left out of JA3.
    static func isGrease(_ value: Int) -> Bool { value & 0x0F0F == 0x0A0A && value >> 8 == value & 0xFF }

    /// The ClientHello's server name and (when `ja3`) its JA3, read in place.
    static func clientHello(_ body: ArraySlice<UInt8>, ja3: Bool, into facts: inout TLSHandshakeFacts) -> Bool {
        var cursor = body.startIndex
        let end = body.endIndex
        func u8() -> Int? {
            guard cursor < end else { return nil }
            cursor += 1
            return Int(body[cursor - 1])
        }
        func u16() -> Int? {
            guard cursor + 2 <= end else { return nil }
            cursor += 2
            return Int(body[cursor - 2]) << 8 | Int(body[cursor - 1])
        }
        func skip(_ count: Int) -> Bool {
            guard count >= 0, cursor + count <= end else { return false }
            cursor += count
            return true
        }
        guard let version = u16(), skip(32), let sessionLength = u8(), skip(sessionLength),
              let suitesLength = u16(), cursor + suitesLength <= end else { return false }
        let suites = cursor..<(cursor + suitesLength)
        cursor += suitesLength
        guard let compressionLength = u8(), skip(compressionLength) else { return false }
        var extensions: [Int] = [], curves: [Int] = [], formats: [Int] = []
        if let extensionsLength = u16(), cursor + extensionsLength <= end {
            let extensionsEnd = cursor + extensionsLength
            while cursor + 4 <= extensionsEnd {
                let type = Int(body[cursor]) << 8 | Int(body[cursor + 1])
                let length = Int(body[cursor + 2]) << 8 | Int(body[cursor + 3])
                let data = (cursor + 4)..<(cursor + 4 + length)
                guard data.upperBound <= extensionsEnd else { break }
                cursor = data.upperBound
                if ja3, !isGrease(type) { extensions.append(type) }
                switch type {
                case 0 where data.count >= 5 && body[data.lowerBound + 2] == 0:
                    let nameLength = Int(body[data.lowerBound + 3]) << 8 | Int(body[data.lowerBound + 4])
                    if data.lowerBound + 5 + nameLength <= data.upperBound {
                        facts.serverName = Array(body[(data.lowerBound + 5)..<(data.lowerBound + 5 + nameLength)])
                    }
                case 10 where ja3 && data.count >= 2:
                    let listEnd = min(data.upperBound, data.lowerBound + 2 + (Int(body[data.lowerBound]) << 8 | Int(body[data.lowerBound + 1])))
                    for index in stride(from: data.lowerBound + 2, to: listEnd - 1, by: 2) {
                        let value = Int(body[index]) << 8 | Int(body[index + 1])
                        if !isGrease(value) { curves.append(value) }
                    }
                case 11 where ja3 && data.count >= 1:
                    let count = min(Int(body[data.lowerBound]), data.count - 1)
                    formats = body[(data.lowerBound + 1)..<(data.lowerBound + 1 + count)].map(Int.init)
                default:
                    break
                }
            }
        }
        guard ja3 else { return true }
        var ciphers: [Int] = []
        for index in stride(from: suites.lowerBound, to: suites.upperBound - 1, by: 2) {
            let value = Int(body[index]) << 8 | Int(body[index + 1])
            if !isGrease(value) { ciphers.append(value) }
        }
        let text = ["\(version)", ciphers.map(String.init).joined(separator: "-"),
                    extensions.map(String.init).joined(separator: "-"), curves.map(String.init).joined(separator: "-"),
                    formats.map(String.init).joined(separator: "-")].joined(separator: ",")
        facts.ja3 = Array(text.utf8)
        facts.ja3Hash = hexMD5(Array(text.utf8))
        return true
    }

    static func serverHello(_ body: [UInt8], into facts: inout TLSHandshakeFacts) -> Bool {
        var reader = ByteReader(body)
        guard let version = reader.u16(), reader.skip(32), let sessionLength = reader.u8(), reader.skip(sessionLength),
              let cipher = reader.u16(), reader.u8() != nil else { return false }
        var extensions: [Int] = []
        if let extensionsLength = reader.u16(), let block = reader.bytes(extensionsLength) {
            var inner = ByteReader(block)
            while let type = inner.u16(), let length = inner.u16(), inner.skip(length) { extensions.append(type) }
        }
        let ja3s = "\(version),\(cipher)," + extensions.map(String.init).joined(separator: "-")
        facts.ja3 = Array(ja3s.utf8)
        facts.ja3Hash = hexMD5(Array(ja3s.utf8))
        return true
    }

    static func certificate(_ body: [UInt8], into facts: inout TLSHandshakeFacts) -> Bool {
        var reader = ByteReader(body)
        guard let total = reader.u24(), let list = reader.bytes(total) else { return false }
        var inner = ByteReader(list)
        while let length = inner.u24(), let der = inner.bytes(length) { facts.certificates.append(der) }
        guard let first = facts.certificates.first, let names = X509Names(first) else { return !facts.certificates.isEmpty }
        facts.subject = Array(names.subject.utf8)
        facts.issuer = Array(names.issuer.utf8)
        facts.serial = Array(names.serial.utf8)
        return true
    }

    static func hexMD5(_ bytes: [UInt8]) -> [UInt8] {
        let digits = Array("0123456789abcdef".utf8)
        return Insecure.MD5.hash(data: bytes).flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] }
    }
}

/// Reads big-endian fields with every length checked.
struct ByteReader {
    let bytes: [UInt8]
    var index = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func u8() -> Int? {
        guard index < bytes.count else { return nil }
        index += 1
        return Int(bytes[index - 1])
    }

    mutating func u16() -> Int? {
        guard index + 2 <= bytes.count else { return nil }
        index += 2
        return Int(bytes[index - 2]) << 8 | Int(bytes[index - 1])
    }

    mutating func u24() -> Int? {
        guard index + 3 <= bytes.count else { return nil }
        index += 3
        return Int(bytes[index - 3]) << 16 | Int(bytes[index - 2]) << 8 | Int(bytes[index - 1])
    }

    mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, index + count <= bytes.count else { return false }
        index += count
        return true
    }

    mutating func bytes(_ count: Int) -> [UInt8]? {
        guard count >= 0, index + count <= bytes.count else { return nil }
        index += count
        return Array(bytes[(index - count)..<index])
    }
}

extension TLSParser {
    /// The server name of the ClientHello that starts `bytes` (a client's first record),
    /// read in place — no parser state, nothing copied — every length checked. What DPI
    /// needs per flow; rules' buffers come from the full parser.
    public static func serverName(inClientHello bytes: UnsafeRawBufferPointer) -> String? {
        var cursor = 5 + 4 + 2 + 32  // record header, handshake header, version, random
        func u8(_ at: Int) -> Int? { at < bytes.count ? Int(bytes[at]) : nil }
        func u16(_ at: Int) -> Int? { at + 1 < bytes.count ? Int(bytes[at]) << 8 | Int(bytes[at + 1]) : nil }
        guard bytes.count > 5, bytes[5] == 1 else { return nil }
        guard let sessionLength = u8(cursor) else { return nil }
        cursor += 1 + sessionLength
        guard let suitesLength = u16(cursor) else { return nil }
        cursor += 2 + suitesLength
        guard let compressionLength = u8(cursor) else { return nil }
        cursor += 1 + compressionLength
        guard let extensionsLength = u16(cursor) else { return nil }
        cursor += 2
        let end = min(bytes.count, cursor + extensionsLength)
        while cursor + 4 <= end {
            guard let type = u16(cursor), let length = u16(cursor + 2) else { return nil }
            let body = cursor + 4
            if type == 0 {
                // server_name_list: length, then entries of (type, length, name).
                guard let nameType = u8(body + 2), nameType == 0, let nameLength = u16(body + 3),
                      body + 5 + nameLength <= end else { return nil }
                return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(body + 5)..<(body + 5 + nameLength)]),
                              as: UTF8.self)
            }
            cursor = body + length
        }
        return nil
    }
}

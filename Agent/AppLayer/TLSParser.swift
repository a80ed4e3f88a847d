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
    public static let limit = 64 * 1024
    private var pending: [UInt8] = []
    private var handshake: [UInt8] = []
    private var done = false
    public private(set) var malformed = 0

    public init(toServer: Bool) { self.toServer = toServer }

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
            let body = Array(handshake[4..<(4 + length)])
            let type = handshake[0]
            handshake.removeFirst(4 + length)
            var facts = TLSHandshakeFacts()
            switch type {
            case 1 where toServer:
                guard Self.clientHello(body, into: &facts) else { malformed += 1; continue }
            case 2 where !toServer:
                guard Self.serverHello(body, into: &facts) else { malformed += 1; continue }
            case 11 where !toServer:
                guard Self.certificate(body, into: &facts) else { malformed += 1; continue }
            default:
                continue
            }
            found.append(facts)
        }
        return found
    }

    /// GREASE values (RFC 8701) are left out of JA3.
    static func isGrease(_ value: Int) -> Bool { value & 0x0F0F == 0x0A0A && value >> 8 == value & 0xFF }

    static func clientHello(_ body: [UInt8], into facts: inout TLSHandshakeFacts) -> Bool {
        var reader = ByteReader(body)
        guard let version = reader.u16(), reader.skip(32), let sessionLength = reader.u8(), reader.skip(sessionLength),
              let suitesLength = reader.u16(), let suites = reader.bytes(suitesLength),
              let compressionLength = reader.u8(), reader.skip(compressionLength) else { return false }
        var ciphers: [Int] = []
        for index in stride(from: 0, to: suites.count - 1, by: 2) {
            let value = Int(suites[index]) << 8 | Int(suites[index + 1])
            if !isGrease(value) { ciphers.append(value) }
        }
        var extensions: [Int] = [], curves: [Int] = [], formats: [Int] = []
        if let extensionsLength = reader.u16(), let block = reader.bytes(extensionsLength) {
            var inner = ByteReader(block)
            while let type = inner.u16(), let length = inner.u16(), let data = inner.bytes(length) {
                if !isGrease(type) { extensions.append(type) }
                var field = ByteReader(data)
                switch type {
                case 0:
                    if field.u16() != nil, field.u8() == 0, let nameLength = field.u16(), let name = field.bytes(nameLength) {
                        facts.serverName = name
                    }
                case 10:
                    if let listLength = field.u16(), let list = field.bytes(listLength) {
                        for index in stride(from: 0, to: list.count - 1, by: 2) {
                            let value = Int(list[index]) << 8 | Int(list[index + 1])
                            if !isGrease(value) { curves.append(value) }
                        }
                    }
                case 11:
                    if let count = field.u8(), let list = field.bytes(count) { formats = list.map(Int.init) }
                default:
                    break
                }
            }
        }
        let ja3 = ["\(version)", ciphers.map(String.init).joined(separator: "-"),
                   extensions.map(String.init).joined(separator: "-"), curves.map(String.init).joined(separator: "-"),
                   formats.map(String.init).joined(separator: "-")].joined(separator: ",")
        facts.ja3 = Array(ja3.utf8)
        facts.ja3Hash = hexMD5(Array(ja3.utf8))
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

/// The subject, issuer and serial of a DER certificate, printed as Suricata prints them
/// (`C=US, O=Example, CN=example.com`; serial `0A:1B:…`). Only what detection needs is read,
/// every length checked.
struct X509Names {
    var subject: String
    var issuer: String
    var serial: String

    static let shortNames: [String: String] = [
        "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
        "2.5.4.5": "serialNumber", "2.5.4.9": "street", "2.5.4.12": "title", "2.5.4.42": "GN", "2.5.4.4": "SN",
        "1.2.840.113549.1.9.1": "emailAddress", "0.9.2342.19200300.100.1.25": "DC", "2.5.4.17": "postalCode",
    ]

    init?(_ der: [UInt8]) {
        let certificate = DER(der)
        guard let tbsBody = certificate.enter(tag: 0x30)?.enter(tag: 0x30) else { return nil }
        var tbs = tbsBody
        if tbs.peekTag == 0xA0 { _ = tbs.next() }
        guard let serialBytes = tbs.next(tag: 0x02), tbs.next(tag: 0x30) != nil,
              let issuerBytes = tbs.next(tag: 0x30), tbs.next(tag: 0x30) != nil, let subjectBytes = tbs.next(tag: 0x30) else {
            return nil
        }
        let digits = Array("0123456789ABCDEF")
        serial = serialBytes.map { String([digits[Int($0 >> 4)], digits[Int($0 & 15)]]) }.joined(separator: ":")
        guard let issuer = Self.name(issuerBytes), let subject = Self.name(subjectBytes) else { return nil }
        self.issuer = issuer
        self.subject = subject
    }

    /// RDNs joined by ", ", attributes of one RDN by "+".
    static func name(_ bytes: [UInt8]) -> String? {
        var reader = DER(bytes)
        var parts: [String] = []
        while !reader.atEnd {
            guard let set = reader.next(tag: 0x31) else { return nil }
            var attributes = DER(set)
            var names: [String] = []
            while !attributes.atEnd {
                guard let pair = attributes.next(tag: 0x30) else { return nil }
                var fields = DER(pair)
                guard let oid = fields.next(tag: 0x06), let (_, value) = fields.nextAny() else { return nil }
                let dotted = objectIdentifier(oid)
                names.append("\(shortNames[dotted] ?? dotted)=\(String(decoding: value, as: UTF8.self))")
            }
            parts.append(names.joined(separator: "+"))
        }
        return parts.joined(separator: ", ")
    }

    static func objectIdentifier(_ bytes: [UInt8]) -> String {
        guard let first = bytes.first else { return "" }
        var components = [Int(first) / 40, Int(first) % 40]
        var value = 0
        for byte in bytes.dropFirst() {
            value = value << 7 | Int(byte & 0x7F)
            if byte & 0x80 == 0 {
                components.append(value)
                value = 0
            }
        }
        return components.map(String.init).joined(separator: ".")
    }
}

/// A DER TLV reader.
struct DER {
    let bytes: [UInt8]
    var index = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index >= bytes.count }
    var peekTag: UInt8? { index < bytes.count ? bytes[index] : nil }

    mutating func nextAny() -> (UInt8, [UInt8])? {
        guard index + 2 <= bytes.count else { return nil }
        let tag = bytes[index]
        var length = Int(bytes[index + 1])
        var cursor = index + 2
        if length & 0x80 != 0 {
            let count = length & 0x7F
            guard count >= 1, count <= 3, cursor + count <= bytes.count else { return nil }
            length = 0
            for offset in 0..<count { length = length << 8 | Int(bytes[cursor + offset]) }
            cursor += count
        }
        guard cursor + length <= bytes.count else { return nil }
        index = cursor + length
        return (tag, Array(bytes[cursor..<(cursor + length)]))
    }

    mutating func next() -> [UInt8]? { nextAny()?.1 }

    mutating func next(tag: UInt8) -> [UInt8]? {
        guard peekTag == tag else { return nil }
        return nextAny()?.1
    }

    func enter(tag: UInt8) -> DER? {
        var copy = self
        return copy.next(tag: tag).map { DER($0) }
    }
}

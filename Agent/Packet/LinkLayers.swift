/// Link layers other than Ethernet, each decoded to the IP packet it carries: BSD
/// loopback (`NULL`/`LOOP`), PPP (plain, HDLC-framed, inside PPPoE) and MPLS label stacks.
@usableFromInline
enum LinkLayers {
    /// Address families for IPv6 differ by system: Linux 10, NetBSD/OpenBSD 24,
    /// FreeBSD 28, Darwin 30. IPv4 is 2 everywhere.
    static let ipv6Families: Set<UInt32> = [10, 24, 28, 30]

    /// `NULL` (the capturing host's byte order, so either) or `LOOP` (network order).
    @usableFromInline
    static func loopback(_ bytes: UnsafeRawBufferPointer, networkOrder: Bool, into headers: inout PacketHeaders) -> ParseStatus {
        guard bytes.count >= 4 else { return .malformed(.truncatedLinkHeader) }
        let big = bytes.be32(0)
        let family = networkOrder || big < 256 ? big : big.byteSwapped
        if family == 2 { return PacketParser.parseIP(bytes, at: 4, version: 4, into: &headers) }
        if ipv6Families.contains(family) { return PacketParser.parseIP(bytes, at: 4, version: 6, into: &headers) }
        return .notIP
    }

    /// A PPP frame from `offset`: optional `FF 03` address and control, then the protocol
    /// (one byte when compressed: odd low byte).
    @usableFromInline
    static func ppp(_ bytes: UnsafeRawBufferPointer, at offset: Int, into headers: inout PacketHeaders) -> ParseStatus {
        var cursor = offset
        guard bytes.count >= cursor + 2 else { return .malformed(.truncatedLinkHeader) }
        if bytes[cursor] == 0xFF, bytes[cursor + 1] == 0x03 { cursor += 2 }
        guard bytes.count > cursor else { return .malformed(.truncatedLinkHeader) }
        let proto: UInt16
        if bytes[cursor] & 1 == 1 {
            proto = UInt16(bytes[cursor])
            cursor += 1
        } else {
            guard bytes.count >= cursor + 2 else { return .malformed(.truncatedLinkHeader) }
            proto = bytes.be16(cursor)
            cursor += 2
        }
        switch proto {
        case 0x0021: return PacketParser.parseIP(bytes, at: cursor, version: 4, into: &headers)
        case 0x0057: return PacketParser.parseIP(bytes, at: cursor, version: 6, into: &headers)
        default: return .notIP
        }
    }

    /// A PPPoE session frame (EtherType 0x8864): version/type, code, session, length, PPP.
    @usableFromInline
    static func pppoeSession(_ bytes: UnsafeRawBufferPointer, at offset: Int, into headers: inout PacketHeaders) -> ParseStatus {
        guard bytes.count >= offset + 8 else { return .malformed(.truncatedLinkHeader) }
        guard bytes[offset] == 0x11, bytes[offset + 1] == 0x00 else { return .notIP }
        let proto = bytes.be16(offset + 6)
        switch proto {
        case 0x0021: return PacketParser.parseIP(bytes, at: offset + 8, version: 4, into: &headers)
        case 0x0057: return PacketParser.parseIP(bytes, at: offset + 8, version: 6, into: &headers)
        default: return .notIP
        }
    }

    static let maximumLabels = 8

    /// An MPLS label stack (EtherType 0x8847/0x8848): labels until the bottom-of-stack bit,
    /// then IP by its version nibble (a pseudowire with Ethernet inside is not IP here).
    @usableFromInline
    static func mpls(_ bytes: UnsafeRawBufferPointer, at offset: Int, into headers: inout PacketHeaders) -> ParseStatus {
        var cursor = offset
        for _ in 0..<maximumLabels {
            guard bytes.count >= cursor + 4 else { return .malformed(.truncatedLinkHeader) }
            let bottom = bytes[cursor + 2] & 1 == 1
            cursor += 4
            if bottom {
                guard bytes.count > cursor else { return .malformed(.truncatedLinkHeader) }
                let version = bytes[cursor] >> 4
                return version == 4 || version == 6 ? PacketParser.parseIP(bytes, at: cursor, version: version, into: &headers) : .notIP
            }
        }
        return .malformed(.truncatedLinkHeader)
    }
}

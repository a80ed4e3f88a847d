/// Tunnels opened to the packet inside, so flows are the inner ones: IPv4/IPv6 in IP
/// (protocols 4 and 41), GRE (IP or Ethernet inside; ERSPAN types I, II and III), and over
/// UDP on their standard ports VXLAN (4789), GENEVE (6081) and Teredo (3544). At most
/// `PacketHeaders.tunnelLimit` tunnels deep; past that the outer packet stands as it is.
@usableFromInline
enum Tunnels {
    /// A tunnel in an IP protocol, or nil when this is not one (or too deep).
    @usableFromInline
    static func ip(_ bytes: UnsafeRawBufferPointer, at offset: Int, end: Int, headers: inout PacketHeaders) -> ParseStatus? {
        guard headers.tunnelDepth < headers.tunnelLimit, end <= bytes.count else { return nil }
        switch headers.ipProtocol {
        case 4, 41:
            guard offset < end else { return .malformed(.truncatedIPv4Header) }
            headers.enterTunnel(key: 0)
            return PacketParser.parseIP(bytes, at: offset, version: headers.ipProtocol == 4 ? 4 : 6, into: &headers)
        case 47:
            return gre(bytes, at: offset, end: end, headers: &headers)
        default:
            return nil
        }
    }

    /// GRE (RFC 2784/2890): checksum, key and sequence present per the flags; then IP,
    /// Ethernet, or ERSPAN (type I: Ethernet at once; II: an 8-byte header; III: 12, and 8
    /// more with the O bit).
    static func gre(_ bytes: UnsafeRawBufferPointer, at offset: Int, end: Int, headers: inout PacketHeaders) -> ParseStatus? {
        guard offset + 4 <= end else { return .malformed(.truncatedLinkHeader) }
        let flags = bytes.be16(offset)
        guard flags & 0x0007 == 0 else { return nil }  // version 0 only (not PPTP's enhanced GRE)
        let proto = bytes.be16(offset + 2)
        var cursor = offset + 4
        if flags & 0x8000 != 0 { cursor += 4 }  // checksum and reserved
        if flags & 0x2000 != 0 { cursor += 4 }  // key
        let key = flags & 0x2000 != 0 && cursor <= end ? bytes.be32(cursor - 4) : 0
        let hasSequence = flags & 0x1000 != 0
        if hasSequence { cursor += 4 }
        guard cursor <= end else { return .malformed(.truncatedLinkHeader) }
        let saved = (headers.tunnelDepth, headers.encapsulation)
        headers.enterTunnel(key: key)
        let inner = UnsafeRawBufferPointer(rebasing: bytes[..<end])
        switch proto {
        case 0x0800: return PacketParser.parseIP(inner, at: cursor, version: 4, into: &headers)
        case 0x86DD: return PacketParser.parseIP(inner, at: cursor, version: 6, into: &headers)
        case 0x6558: return PacketParser.parseEthernet(inner, at: cursor, into: &headers)
        case 0x88BE:
            // ERSPAN type II has a sequence number and an 8-byte header; type I neither.
            return PacketParser.parseEthernet(inner, at: hasSequence ? cursor + 8 : cursor, into: &headers)
        case 0x22EB:
            guard cursor + 12 <= end else { return .malformed(.truncatedLinkHeader) }
            let optional = bytes[cursor + 11] & 0x01 != 0
            return PacketParser.parseEthernet(inner, at: cursor + 12 + (optional ? 8 : 0), into: &headers)
        default:
            (headers.tunnelDepth, headers.encapsulation) = saved
            return nil
        }
    }

    /// VXLAN, GENEVE or Teredo by their UDP ports, or nil (another UDP flow).
    @usableFromInline
    static func udp(_ bytes: UnsafeRawBufferPointer, headers: inout PacketHeaders) -> ParseStatus? {
        guard headers.tunnelDepth < headers.tunnelLimit else { return nil }
        let payload = headers.payloadOffset
        let end = payload + headers.payloadLength
        let inner = UnsafeRawBufferPointer(rebasing: bytes[..<end])
        switch headers.destinationPort {
        case 4789:
            // VXLAN: flags with the I bit, 24-bit VNI, then an Ethernet frame.
            guard headers.payloadLength >= 8 + 14, bytes[payload] & 0x08 != 0 else { return nil }
            headers.enterTunnel(key: bytes.be32(payload + 4) >> 8)
            return PacketParser.parseEthernet(inner, at: payload + 8, into: &headers)
        case 6081:
            // GENEVE: version 0, options length in 4-byte units, protocol type.
            guard headers.payloadLength >= 8, bytes[payload] >> 6 == 0 else { return nil }
            let start = payload + 8 + Int(bytes[payload] & 0x3F) * 4
            guard start <= end else { return .malformed(.truncatedLinkHeader) }
            let saved = (headers.tunnelDepth, headers.encapsulation)
            headers.enterTunnel(key: bytes.be32(payload + 4) >> 8)
            switch bytes.be16(payload + 2) {
            case 0x6558: return PacketParser.parseEthernet(inner, at: start, into: &headers)
            case 0x0800: return PacketParser.parseIP(inner, at: start, version: 4, into: &headers)
            case 0x86DD: return PacketParser.parseIP(inner, at: start, version: 6, into: &headers)
            default:
                (headers.tunnelDepth, headers.encapsulation) = saved
                return nil
            }
        case 3544:
            // Teredo: IPv6 in UDP, possibly after an authentication and an origin indicator.
            var start = payload
            if start + 2 <= end, bytes.be16(start) == 0x0001, start + 4 <= end {
                start += 13 + Int(bytes[start + 2]) + Int(bytes[start + 3])
            }
            if start + 2 <= end, bytes.be16(start) == 0x0000 { start += 8 }
            guard start + 40 <= end, bytes[start] >> 4 == 6 else { return nil }
            headers.enterTunnel(key: 0)
            return PacketParser.parseIP(inner, at: start, version: 6, into: &headers)
        default:
            return nil
        }
    }
}

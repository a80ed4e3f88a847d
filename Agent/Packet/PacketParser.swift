import MBoxCapture

/// Decodes link, network and transport headers in place. Every length is checked
/// against the bytes actually captured before it is used; anything that does not add
/// up is reported as `.malformed(reason)` and must not travel further.
public enum PacketParser {
    static let maximumVLANTags = 4
    static let maximumIPv6ExtensionHeaders = 8

    /// Parses `bytes` framed as `linkType` into `headers`.
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer, linkType: LinkType,
                             into headers: inout PacketHeaders) -> ParseStatus {
        headers.vlanCount = 0
        headers.tunnelDepth = 0
        headers.encapsulation = 0
        headers.transportDamaged = false
        switch linkType {
        case .ethernet:
            return parseEthernet(bytes, into: &headers)
        case .raw, .rawOpenBSD, .rawAlternative:
            guard bytes.count >= 1 else { return .malformed(.truncatedLinkHeader) }
            return parseIP(bytes, at: 0, version: bytes[0] >> 4, into: &headers)
        case .null, .loop:
            return LinkLayers.loopback(bytes, networkOrder: linkType == .loop, into: &headers)
        case .ppp, .pppHDLC:
            return LinkLayers.ppp(bytes, at: 0, into: &headers)
        case .ciscoHDLC:
            guard bytes.count >= 4 else { return .malformed(.truncatedLinkHeader) }
            return parseEtherType(bytes.be16(2), bytes, at: 4, into: &headers)
        case .ipv4:
            return parseIP(bytes, at: 0, version: 4, into: &headers)
        case .ipv6:
            return parseIP(bytes, at: 0, version: 6, into: &headers)
        case .linuxSLL:
            guard bytes.count >= 16 else { return .malformed(.truncatedLinkHeader) }
            return parseEtherType(bytes.be16(14), bytes, at: 16, into: &headers)
        case .linuxSLL2:
            guard bytes.count >= 20 else { return .malformed(.truncatedLinkHeader) }
            return parseEtherType(bytes.be16(0), bytes, at: 20, into: &headers)
        default:
            return .notIP
        }
    }

    @usableFromInline
    static func parseEthernet(_ bytes: UnsafeRawBufferPointer, at start: Int = 0, into headers: inout PacketHeaders) -> ParseStatus {
        guard bytes.count >= start + 14 else { return .malformed(.truncatedLinkHeader) }
        var etherType = bytes.be16(start + 12)
        var offset = start + 14
        var tags = 0
        // 802.1Q, 802.1ad (QinQ outer) and the older 0x9100 outer tag.
        while etherType == 0x8100 || etherType == 0x88A8 || etherType == 0x9100 {
            guard tags < maximumVLANTags else { return .malformed(.tooManyVLANTags) }
            guard bytes.count >= offset + 4 else { return .malformed(.truncatedVLANTag) }
            let vlanID = bytes.be16(offset) & 0x0FFF
            if tags == 0 { headers.vlanIDs.0 = vlanID } else if tags == 1 { headers.vlanIDs.1 = vlanID }
            tags += 1
            etherType = bytes.be16(offset + 2)
            offset += 4
        }
        headers.vlanCount = UInt8(min(tags, 2))
        if tags > 0 { headers.mixEncapsulation(UInt64(headers.vlanIDs.0) << 16 | UInt64(tags > 1 ? headers.vlanIDs.1 : 0) << 32 | 0xF1A9) }
        return parseEtherType(etherType, bytes, at: offset, into: &headers)
    }

    @usableFromInline @inline(__always)
    static func parseEtherType(_ etherType: UInt16, _ bytes: UnsafeRawBufferPointer, at offset: Int,
                               into headers: inout PacketHeaders) -> ParseStatus {
        switch etherType {
        case 0x0800: return parseIP(bytes, at: offset, version: 4, into: &headers)
        case 0x86DD: return parseIP(bytes, at: offset, version: 6, into: &headers)
        case 0x8864: return LinkLayers.pppoeSession(bytes, at: offset, into: &headers)
        case 0x8847, 0x8848: return LinkLayers.mpls(bytes, at: offset, into: &headers)
        default: return .notIP
        }
    }

    @usableFromInline @inline(__always)
    static func parseIP(_ bytes: UnsafeRawBufferPointer, at offset: Int, version: UInt8,
                        into headers: inout PacketHeaders) -> ParseStatus {
        switch version {
        case 4: return parseIPv4(bytes, at: offset, into: &headers)
        case 6: return parseIPv6(bytes, at: offset, into: &headers)
        default: return .malformed(.badIPVersion)
        }
    }

    @usableFromInline
    static func parseIPv4(_ bytes: UnsafeRawBufferPointer, at offset: Int, into headers: inout PacketHeaders) -> ParseStatus {
        guard bytes.count >= offset + 20 else { return .malformed(.truncatedIPv4Header) }
        let versionAndLength = bytes[offset]
        guard versionAndLength >> 4 == 4 else { return .malformed(.badIPVersion) }
        let headerLength = Int(versionAndLength & 0x0F) * 4
        guard headerLength >= 20 else { return .malformed(.badIPv4HeaderLength) }
        guard bytes.count >= offset + headerLength else { return .malformed(.truncatedIPv4Header) }
        let totalLength = Int(bytes.be16(offset + 2))
        // The datagram must hold its own header and fit in what was captured; bytes
        // beyond it (Ethernet padding) are not payload.
        guard totalLength >= headerLength, offset + totalLength <= bytes.count else {
            return .malformed(.badIPv4TotalLength)
        }
        headers.ipVersion = 4
        headers.networkOffset = offset
        headers.ipLength = totalLength
        headers.ttl = bytes[offset + 8]
        headers.ipProtocol = bytes[offset + 9]
        headers.source = IPAddress(ipv4NetworkOrder: bytes.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
        headers.destination = IPAddress(ipv4NetworkOrder: bytes.loadUnaligned(fromByteOffset: offset + 16, as: UInt32.self))
        let fragment = bytes.be16(offset + 6)
        // More-fragments set, or a non-zero offset: part of a fragmented datagram.
        if fragment & 0x3FFF != 0 {
            headers.transportOffset = offset + headerLength
            return .fragment
        }
        return parseTransport(bytes, at: offset + headerLength, end: offset + totalLength, into: &headers)
    }

    @usableFromInline
    static func parseIPv6(_ bytes: UnsafeRawBufferPointer, at offset: Int, into headers: inout PacketHeaders) -> ParseStatus {
        guard bytes.count >= offset + 40 else { return .malformed(.truncatedIPv6Header) }
        guard bytes[offset] >> 4 == 6 else { return .malformed(.badIPVersion) }
        let payloadLength = Int(bytes.be16(offset + 4))
        let end = offset + 40 + payloadLength
        // A zero payload length means a jumbogram, which no link here can carry.
        guard payloadLength > 0, end <= bytes.count else { return .malformed(.badIPv6PayloadLength) }
        headers.ipVersion = 6
        headers.networkOffset = offset
        headers.ipLength = 40 + payloadLength
        headers.ttl = bytes[offset + 7]
        headers.source = IPAddress(high: bytes.raw64(offset + 8), low: bytes.raw64(offset + 16))
        headers.destination = IPAddress(high: bytes.raw64(offset + 24), low: bytes.raw64(offset + 32))

        var next = bytes[offset + 6]
        var cursor = offset + 40
        var extensions = 0
        while true {
            switch next {
            case 0, 43, 60:  // hop-by-hop, routing, destination options
                guard cursor + 8 <= end else { return .malformed(.badIPv6ExtensionHeader) }
                let length = (Int(bytes[cursor + 1]) + 1) * 8
                guard cursor + length <= end else { return .malformed(.badIPv6ExtensionHeader) }
                next = bytes[cursor]
                cursor += length
            case 51:  // authentication header: length in 4-byte units, minus 2
                guard cursor + 8 <= end else { return .malformed(.badIPv6ExtensionHeader) }
                let length = (Int(bytes[cursor + 1]) + 2) * 4
                guard cursor + length <= end else { return .malformed(.badIPv6ExtensionHeader) }
                next = bytes[cursor]
                cursor += length
            case 44:  // fragment
                guard cursor + 8 <= end else { return .malformed(.badIPv6ExtensionHeader) }
                let offsetAndFlags = bytes.be16(cursor + 2)
                next = bytes[cursor]
                cursor += 8
                if offsetAndFlags & 0xFFF9 != 0 {
                    headers.ipProtocol = next
                    headers.transportOffset = cursor
                    return .fragment
                }
            default:
                headers.ipProtocol = next
                return parseTransport(bytes, at: cursor, end: end, into: &headers)
            }
            extensions += 1
            guard extensions <= maximumIPv6ExtensionHeaders else { return .malformed(.tooManyIPv6ExtensionHeaders) }
        }
    }
}

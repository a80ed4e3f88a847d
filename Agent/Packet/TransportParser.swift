extension PacketParser {
    /// Decodes the transport header found at `offset`, inside a datagram ending at `end`.
    @usableFromInline
    static func parseTransport(_ bytes: UnsafeRawBufferPointer, at offset: Int, end: Int,
                               into headers: inout PacketHeaders) -> ParseStatus {
        headers.transportOffset = offset
        switch headers.ipProtocol {
        case IPProtocolNumber.tcp:
            return parseTCP(bytes, at: offset, end: end, into: &headers)
        case IPProtocolNumber.udp:
            guard offset + 8 <= end else { return .malformed(.truncatedUDPHeader) }
            let length = Int(bytes.be16(offset + 4))
            guard length >= 8, offset + length <= end else { return .malformed(.badUDPLength) }
            headers.sourcePort = bytes.be16(offset)
            headers.destinationPort = bytes.be16(offset + 2)
            headers.payloadOffset = offset + 8
            headers.payloadLength = length - 8
            if let tunnel = Tunnels.udp(bytes, headers: &headers) { return tunnel }
            return .ok
        case IPProtocolNumber.icmp, IPProtocolNumber.icmpv6:
            guard offset + 4 <= end else { return .malformed(.truncatedICMPHeader) }
            headers.icmpType = bytes[offset]
            headers.icmpCode = bytes[offset + 1]
            headers.sourcePort = 0
            headers.destinationPort = 0
            headers.payloadOffset = offset + 4
            headers.payloadLength = end - offset - 4
            return .ok
        case 4, 41, 47:
            // IPv4 or IPv6 in IP, GRE: the flow is the inner packet's.
            if let tunnel = Tunnels.ip(bytes, at: offset, end: end, headers: &headers) { return tunnel }
            fallthrough
        default:
            // Another protocol: the flow is keyed by addresses and protocol only.
            headers.sourcePort = 0
            headers.destinationPort = 0
            headers.payloadOffset = offset
            headers.payloadLength = end - offset
            return .ok
        }
    }

    @usableFromInline @inline(__always)
    static func parseTCP(_ bytes: UnsafeRawBufferPointer, at offset: Int, end: Int,
                         into headers: inout PacketHeaders) -> ParseStatus {
        guard offset + 20 <= end else { return .malformed(.truncatedTCPHeader) }
        let headerLength = Int(bytes[offset + 12] >> 4) * 4
        guard headerLength >= 20, offset + headerLength <= end else { return .malformed(.badTCPDataOffset) }
        headers.sourcePort = bytes.be16(offset)
        headers.destinationPort = bytes.be16(offset + 2)
        headers.sequence = bytes.be32(offset + 4)
        headers.acknowledgment = bytes.be32(offset + 8)
        headers.tcpFlags = TCPFlags(rawValue: bytes[offset + 13])
        headers.window = bytes.be16(offset + 14)
        headers.payloadOffset = offset + headerLength
        headers.payloadLength = end - offset - headerLength
        headers.tcpOptions = TCPOptions()
        if headerLength > 20, !parseTCPOptions(bytes, from: offset + 20, to: offset + headerLength, into: &headers.tcpOptions) {
            return .malformed(.badTCPOption)
        }
        return .ok
    }

    /// Walks the option list; false if an option's length is impossible or runs past the header.
    @usableFromInline
    static func parseTCPOptions(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int,
                                into options: inout TCPOptions) -> Bool {
        var cursor = start
        while cursor < end {
            let kind = bytes[cursor]
            if kind == 0 { return true }          // end of option list
            if kind == 1 { cursor += 1; continue }  // no-operation
            guard cursor + 2 <= end else { return false }
            let length = Int(bytes[cursor + 1])
            guard length >= 2, cursor + length <= end else { return false }
            switch (kind, length) {
            case (2, 4):
                options.mss = bytes.be16(cursor + 2)
            case (3, 3):
                options.hasWindowScale = true
                options.windowScale = min(bytes[cursor + 2], 14)  // RFC 7323 caps the shift at 14
            case (4, 2):
                options.sackPermitted = true
            case (8, 10):
                options.hasTimestamps = true
                options.timestampValue = bytes.be32(cursor + 2)
                options.timestampEcho = bytes.be32(cursor + 6)
            case (2, _), (3, _), (4, _), (8, _):
                return false  // a known option with the wrong length
            default:
                break  // SACK blocks and others: skipped by length
            }
            cursor += length
        }
        return true
    }
}

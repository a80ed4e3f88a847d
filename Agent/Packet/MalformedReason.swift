/// Why a packet was refused. Each reason has its own counter.
public enum MalformedReason: Int, CaseIterable, Sendable, CustomStringConvertible {
    case truncatedLinkHeader
    case truncatedVLANTag
    case tooManyVLANTags
    case truncatedIPv4Header
    case badIPv4HeaderLength
    case badIPv4TotalLength
    case badIPVersion
    case truncatedIPv6Header
    case badIPv6PayloadLength
    case badIPv6ExtensionHeader
    case tooManyIPv6ExtensionHeaders
    case truncatedTCPHeader
    case badTCPDataOffset
    case badTCPOption
    case truncatedUDPHeader
    case badUDPLength
    case truncatedICMPHeader

    /// Whether only the transport header is wrong (the IP header before it was sound).
    public var isTransportLevel: Bool {
        switch self {
        case .truncatedTCPHeader, .badTCPDataOffset, .badTCPOption, .truncatedUDPHeader, .badUDPLength, .truncatedICMPHeader: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .truncatedLinkHeader: return "truncated_link_header"
        case .truncatedVLANTag: return "truncated_vlan_tag"
        case .tooManyVLANTags: return "too_many_vlan_tags"
        case .truncatedIPv4Header: return "truncated_ipv4_header"
        case .badIPv4HeaderLength: return "bad_ipv4_header_length"
        case .badIPv4TotalLength: return "bad_ipv4_total_length"
        case .badIPVersion: return "bad_ip_version"
        case .truncatedIPv6Header: return "truncated_ipv6_header"
        case .badIPv6PayloadLength: return "bad_ipv6_payload_length"
        case .badIPv6ExtensionHeader: return "bad_ipv6_extension_header"
        case .tooManyIPv6ExtensionHeaders: return "too_many_ipv6_extension_headers"
        case .truncatedTCPHeader: return "truncated_tcp_header"
        case .badTCPDataOffset: return "bad_tcp_data_offset"
        case .badTCPOption: return "bad_tcp_option"
        case .truncatedUDPHeader: return "truncated_udp_header"
        case .badUDPLength: return "bad_udp_length"
        case .truncatedICMPHeader: return "truncated_icmp_header"
        }
    }
}

/// One counter per `MalformedReason`, kept in a fixed-size array (no per-packet allocation).
public struct MalformedCounters: Sendable {
    public private(set) var counts = [UInt64](repeating: 0, count: MalformedReason.allCases.count)

    public init() {}

    public mutating func count(_ reason: MalformedReason) { counts[reason.rawValue] &+= 1 }

    public subscript(reason: MalformedReason) -> UInt64 { counts[reason.rawValue] }

    public var total: UInt64 { counts.reduce(0, &+) }

    /// Non-zero counters by name, for summaries.
    public var nonZero: [(String, UInt64)] {
        MalformedReason.allCases.compactMap { counts[$0.rawValue] > 0 ? ($0.description, counts[$0.rawValue]) : nil }
    }

    public mutating func add(_ other: MalformedCounters) {
        for i in counts.indices { counts[i] &+= other.counts[i] }
    }
}

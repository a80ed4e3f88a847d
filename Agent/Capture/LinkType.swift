/// A capture file's link-layer header type (the LINKTYPE_* registry used by pcap and pcapng).
///
/// Kept open (a raw value, not a closed enum) so that a file with a link type this
/// project does not decode is still read; the parser counts such packets as unsupported.
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    public static let null = LinkType(rawValue: 0)
    /// IEEE 802.3 Ethernet.
    public static let ethernet = LinkType(rawValue: 1)
    /// PPP, with or without the HDLC address and control bytes.
    public static let ppp = LinkType(rawValue: 9)
    /// Raw IP as OpenBSD's and some other systems' DLT_RAW numbers write it.
    public static let rawOpenBSD = LinkType(rawValue: 12)
    public static let rawAlternative = LinkType(rawValue: 14)
    /// PPP in HDLC-like framing (RFC 1662).
    public static let pppHDLC = LinkType(rawValue: 50)
    /// Cisco HDLC: address, control, then an EtherType.
    public static let ciscoHDLC = LinkType(rawValue: 104)
    /// OpenBSD loopback: like `null`, the family in network byte order.
    public static let loop = LinkType(rawValue: 108)
    /// Raw IP; the version nibble tells IPv4 from IPv6.
    public static let raw = LinkType(rawValue: 101)
    /// Linux "cooked" capture, version 1 (16-byte header).
    public static let linuxSLL = LinkType(rawValue: 113)
    /// Raw IPv4.
    public static let ipv4 = LinkType(rawValue: 228)
    /// Raw IPv6.
    public static let ipv6 = LinkType(rawValue: 229)
    /// Linux "cooked" capture, version 2 (20-byte header).
    public static let linuxSLL2 = LinkType(rawValue: 276)

    public var description: String {
        switch self {
        case .null: return "null"
        case .ethernet: return "ethernet"
        case .ppp: return "ppp"
        case .rawOpenBSD, .rawAlternative: return "raw"
        case .pppHDLC: return "ppp-hdlc"
        case .ciscoHDLC: return "cisco-hdlc"
        case .loop: return "loop"
        case .raw: return "raw"
        case .linuxSLL: return "linux-sll"
        case .ipv4: return "ipv4"
        case .ipv6: return "ipv6"
        case .linuxSLL2: return "linux-sll2"
        default: return "linktype-\(rawValue)"
        }
    }
}

/// One packet read from a capture: a view into the file's bytes, never a copy.
///
/// `data` stays valid as long as the reader that produced it is alive.
public struct CapturedPacket {
    /// Capture time in nanoseconds since the Unix epoch.
    public var timestamp: UInt64
    /// The captured bytes (possibly fewer than `originalLength` when the capture had a snap length).
    public var data: UnsafeRawBufferPointer
    /// The packet's length on the wire.
    public var originalLength: UInt32
    /// How to decode `data`.
    public var linkType: LinkType
    /// The pcapng interface the packet arrived on (0 for classic pcap).
    public var interfaceID: UInt32

    public init(timestamp: UInt64, data: UnsafeRawBufferPointer, originalLength: UInt32,
                linkType: LinkType, interfaceID: UInt32 = 0) {
        self.timestamp = timestamp
        self.data = data
        self.originalLength = originalLength
        self.linkType = linkType
        self.interfaceID = interfaceID
    }
}

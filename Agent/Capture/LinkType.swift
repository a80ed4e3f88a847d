/// A capture file's link-layer header type (the LINKTYPE_* registry used by pcap and pcapng).
///
/// Kept open (a raw value, not a closed enum) so that a file with a link type this
/// project does not decode is still read; the parser counts such packets as unsupported.
public struct LinkType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    /// IEEE 802.3 Ethernet.
    public static let ethernet = LinkType(rawValue: 1)
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
        case .ethernet: return "ethernet"
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

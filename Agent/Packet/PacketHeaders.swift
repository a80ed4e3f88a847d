/// IP protocol numbers the data path distinguishes.
public enum IPProtocolNumber {
    public static let icmp: UInt8 = 1
    public static let tcp: UInt8 = 6
    public static let udp: UInt8 = 17
    public static let icmpv6: UInt8 = 58
}

/// TCP header flag bits.
public struct TCPFlags: OptionSet, Sendable {
    public var rawValue: UInt8
    @inlinable public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let fin = TCPFlags(rawValue: 0x01)
    public static let syn = TCPFlags(rawValue: 0x02)
    public static let rst = TCPFlags(rawValue: 0x04)
    public static let psh = TCPFlags(rawValue: 0x08)
    public static let ack = TCPFlags(rawValue: 0x10)
    public static let urg = TCPFlags(rawValue: 0x20)
    public static let ece = TCPFlags(rawValue: 0x40)
    public static let cwr = TCPFlags(rawValue: 0x80)
}

/// The TCP options the monitor uses (the rest are skipped after their length is checked).
public struct TCPOptions: Sendable {
    public var mss: UInt16 = 0
    /// Window scale shift; meaningful when `hasWindowScale`.
    public var windowScale: UInt8 = 0
    public var hasWindowScale = false
    public var sackPermitted = false
    public var hasTimestamps = false
    public var timestampValue: UInt32 = 0
    public var timestampEcho: UInt32 = 0
    @inlinable public init() {}
}

/// Everything the later stages need from one packet's headers, by value. Offsets index
/// the packet's bytes, so the payload is read in place and never copied.
public struct PacketHeaders: Sendable {
    public var ipVersion: UInt8 = 0
    public var ipProtocol: UInt8 = 0
    public var source = IPAddress(high: 0, low: 0)
    public var destination = IPAddress(high: 0, low: 0)
    public var sourcePort: UInt16 = 0
    public var destinationPort: UInt16 = 0
    /// Up to two 802.1Q/802.1ad VLAN IDs, outermost first; `vlanCount` of them are valid.
    public var vlanIDs: (UInt16, UInt16) = (0, 0)
    public var vlanCount: UInt8 = 0
    /// Tunnels opened to reach the headers below (GRE, VXLAN, GENEVE, IP in IP, Teredo):
    /// the addresses, ports and payload are the innermost packet's.
    public var tunnelDepth: UInt8 = 0
    /// How many tunnels may be opened (set once by the data path; 0 opens none).
    public var tunnelLimit: UInt8 = 4
    /// What the packet travels in, so the same inner 5-tuple in two tunnels or VLANs is two
    /// flows: 0 for a bare packet, else a hash of its VLAN IDs and each tunnel's endpoints
    /// (either way round, so both directions agree) and VNI or GRE key.
    public var encapsulation: UInt32 = 0
    /// The outermost tunnel's own header (EVE's `tunnel` object); valid when `tunnelDepth > 0`.
    public var tunnelSource = IPAddress(high: 0, low: 0)
    public var tunnelDestination = IPAddress(high: 0, low: 0)
    public var tunnelSourcePort: UInt16 = 0
    public var tunnelDestinationPort: UInt16 = 0
    public var tunnelProtocol: UInt8 = 0
    public var ttl: UInt8 = 0
    public var networkOffset: Int = 0
    public var transportOffset: Int = 0
    public var payloadOffset: Int = 0
    public var payloadLength: Int = 0
    /// Bytes from the IP header to the end of the IP datagram (excluding link padding).
    public var ipLength: Int = 0
    /// The IP header is sound but the TCP/UDP/ICMP header is not: the packet goes on for
    /// IP-level rules without a transport layer (ports 0, no payload), as Suricata's does.
    public var transportDamaged = false

    // TCP
    public var tcpFlags = TCPFlags(rawValue: 0)
    public var sequence: UInt32 = 0
    public var acknowledgment: UInt32 = 0
    /// Window as sent, before scaling.
    public var window: UInt16 = 0
    public var tcpOptions = TCPOptions()

    // ICMP / ICMPv6
    public var icmpType: UInt8 = 0
    public var icmpCode: UInt8 = 0

    @inlinable public init() {}

    /// Enters a tunnel whose outer header was just parsed (`key`: VNI, GRE key or 0).
    @inlinable
    public mutating func enterTunnel(key: UInt32) {
        if tunnelDepth == 0 {
            tunnelSource = source
            tunnelDestination = destination
            tunnelSourcePort = isTCP || isUDP ? sourcePort : 0
            tunnelDestinationPort = isTCP || isUDP ? destinationPort : 0
            tunnelProtocol = ipProtocol
        }
        tunnelDepth += 1
        let endpoints = Self.mix(source.high ^ source.low) &+ Self.mix(destination.high ^ destination.low)
        mixEncapsulation(endpoints ^ UInt64(key) << 8 ^ UInt64(tunnelDepth))
    }

    @inlinable
    public mutating func mixEncapsulation(_ value: UInt64) {
        let mixed = UInt32(truncatingIfNeeded: Self.mix(UInt64(encapsulation) ^ value) >> 16)
        encapsulation = mixed == 0 ? 1 : mixed
    }

    @inlinable
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// A TCP packet with a sound TCP header.
    @inlinable public var isTCP: Bool { ipProtocol == IPProtocolNumber.tcp && !transportDamaged }
    @inlinable public var isUDP: Bool { ipProtocol == IPProtocolNumber.udp && !transportDamaged }

    /// Drops the transport layer of a packet whose transport header did not parse.
    @inlinable
    public mutating func dropTransport() {
        transportDamaged = true
        sourcePort = 0
        destinationPort = 0
        tcpFlags = TCPFlags(rawValue: 0)
        payloadOffset = networkOffset + ipLength
        payloadLength = 0
    }
}

/// What the parser made of a packet.
public enum ParseStatus: Equatable, Sendable {
    /// Headers are valid up to the transport layer; `PacketHeaders` is filled.
    case ok
    /// An IP fragment: recognised and counted, network fields filled, no transport header.
    case fragment
    /// Not IP (ARP, LLDP, …) or a link type this parser does not decode.
    case notIP
    /// Lengths or fields that cannot be trusted; the packet must not go further.
    case malformed(MalformedReason)
}

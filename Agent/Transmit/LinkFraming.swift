import MBoxCapture
import MBoxPacket

/// A 48-bit Ethernet address.
public struct MACAddress: Hashable, Sendable, CustomStringConvertible {
    public var bytes: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)

    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8, _ e: UInt8, _ f: UInt8) { bytes = (a, b, c, d, e, f) }

    /// The address at `offset` of `frame`.
    public init(_ frame: UnsafeRawBufferPointer, at offset: Int) {
        bytes = (frame[offset], frame[offset + 1], frame[offset + 2], frame[offset + 3], frame[offset + 4], frame[offset + 5])
    }

    /// "aa:bb:cc:dd:ee:ff".
    public init?(_ text: String) {
        let parts = text.split(separator: ":")
        guard parts.count == 6 else { return nil }
        let values = parts.compactMap { UInt8($0, radix: 16) }
        guard values.count == 6 else { return nil }
        bytes = (values[0], values[1], values[2], values[3], values[4], values[5])
    }

    /// A locally administered unicast address derived from an IPv4 address (02:00:a:b:c:d),
    /// for a virtual address the agent answers for.
    public init(locallyAdministeredFor address: IPAddress) {
        let v4 = address.ipv4Bytes
        bytes = (0x02, 0x00, v4[0], v4[1], v4[2], v4[3])
    }

    public static let broadcast = MACAddress(0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF)
    public static let zero = MACAddress(0, 0, 0, 0, 0, 0)

    public static func == (a: MACAddress, b: MACAddress) -> Bool {
        a.bytes.0 == b.bytes.0 && a.bytes.1 == b.bytes.1 && a.bytes.2 == b.bytes.2
            && a.bytes.3 == b.bytes.3 && a.bytes.4 == b.bytes.4 && a.bytes.5 == b.bytes.5
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(bytes.0); hasher.combine(bytes.1); hasher.combine(bytes.2)
        hasher.combine(bytes.3); hasher.combine(bytes.4); hasher.combine(bytes.5)
    }

    /// Writes the address at `offset` of `frame`.
    public func write(to frame: UnsafeMutableRawBufferPointer, at offset: Int) {
        frame[offset] = bytes.0; frame[offset + 1] = bytes.1; frame[offset + 2] = bytes.2
        frame[offset + 3] = bytes.3; frame[offset + 4] = bytes.4; frame[offset + 5] = bytes.5
    }

    public var description: String {
        [bytes.0, bytes.1, bytes.2, bytes.3, bytes.4, bytes.5].map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined(separator: ":")
    }
}

/// The link header an emitted frame gets: Ethernet (with the VLAN tags of the packet it
/// answers) or none (raw IP captures).
public struct LinkFraming: Sendable {
    public var destination: MACAddress
    public var source: MACAddress
    public var vlanIDs: (UInt16, UInt16) = (0, 0)
    public var vlanCount: UInt8 = 0
    public var isEthernet: Bool

    public init(destination: MACAddress, source: MACAddress, vlanIDs: (UInt16, UInt16) = (0, 0), vlanCount: UInt8 = 0) {
        self.destination = destination
        self.source = source
        self.vlanIDs = vlanIDs
        self.vlanCount = vlanCount
        isEthernet = true
    }

    private init(raw: Void) {
        destination = .zero
        source = .zero
        isEthernet = false
    }

    /// No link header.
    public static let raw = LinkFraming(raw: ())

    /// The framing of a reply to `packet` (its addresses swapped, its VLANs kept); nil when
    /// its link type cannot be written or it travels in a tunnel.
    public init?(replyingTo packet: CapturedPacket, headers: PacketHeaders) {
        guard headers.tunnelDepth == 0 else { return nil }
        switch packet.linkType {
        case .ethernet:
            guard packet.data.count >= 14 else { return nil }
            self.init(destination: MACAddress(packet.data, at: 6), source: MACAddress(packet.data, at: 0),
                      vlanIDs: headers.vlanIDs, vlanCount: min(headers.vlanCount, 2))
        case .raw, .ipv4, .ipv6, .rawOpenBSD, .rawAlternative:
            self = .raw
        default:
            return nil
        }
    }

    /// Bytes of link header.
    public var length: Int { isEthernet ? 14 + 4 * Int(vlanCount) : 0 }

    /// Writes the link header for `etherType` at the start of `frame`; returns its length.
    @discardableResult
    public func write(to frame: UnsafeMutableRawBufferPointer, etherType: UInt16) -> Int {
        guard isEthernet else { return 0 }
        destination.write(to: frame, at: 0)
        source.write(to: frame, at: 6)
        var offset = 12
        for index in 0..<Int(vlanCount) {
            let id = index == 0 ? vlanIDs.0 : vlanIDs.1
            frame.storeBytes(of: UInt16(0x8100).bigEndian, toByteOffset: offset, as: UInt16.self)
            frame.storeBytes(of: id.bigEndian, toByteOffset: offset + 2, as: UInt16.self)
            offset += 4
        }
        frame.storeBytes(of: etherType.bigEndian, toByteOffset: offset, as: UInt16.self)
        return offset + 2
    }
}

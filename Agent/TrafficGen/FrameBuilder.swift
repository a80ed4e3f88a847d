/// One endpoint of a generated flow.
public struct Endpoint: Sendable, Equatable {
    /// 4 or 16 address bytes.
    public var address: [UInt8]
    public var port: UInt16
    public var mac: [UInt8]

    public init(address: [UInt8], port: UInt16, mac: [UInt8]) {
        self.address = address
        self.port = port
        self.mac = mac
    }

    public var isIPv6: Bool { address.count == 16 }
}

/// Builds Ethernet frames (optionally VLAN-tagged) carrying IPv4/IPv6 with TCP or UDP,
/// with correct lengths and checksums.
public struct FrameBuilder: Sendable {
    /// VLAN IDs to push, outermost first (two for QinQ).
    public var vlanIDs: [UInt16] = []

    public init(vlanIDs: [UInt16] = []) { self.vlanIDs = vlanIDs }

    public struct TCPSegment: Sendable {
        public var flags: UInt8
        public var sequence: UInt32
        public var acknowledgment: UInt32
        public var window: UInt16 = 64240
        public var options: [UInt8] = []
        public var payload: [UInt8] = []

        public init(flags: UInt8, sequence: UInt32, acknowledgment: UInt32, options: [UInt8] = [], payload: [UInt8] = []) {
            self.flags = flags
            self.sequence = sequence
            self.acknowledgment = acknowledgment
            self.options = options
            self.payload = payload
        }
    }

    /// SYN options: MSS 1460, SACK permitted, timestamps, window scale 7 (as Linux sends).
    public static func synOptions(timestamp: UInt32) -> [UInt8] {
        var options: [UInt8] = [2, 4, 0x05, 0xB4, 4, 2, 8, 10]
        options += bigEndian(timestamp) + [0, 0, 0, 0]
        options += [1, 3, 3, 7]
        return options
    }

    public func tcp(from source: Endpoint, to destination: Endpoint, _ segment: TCPSegment) -> [UInt8] {
        precondition(segment.options.count % 4 == 0)
        var header = [UInt8]()
        header += bigEndian(source.port) + bigEndian(destination.port)
        header += bigEndian(segment.sequence) + bigEndian(segment.acknowledgment)
        header.append(UInt8((20 + segment.options.count) / 4) << 4)
        header.append(segment.flags)
        header += bigEndian(segment.window)
        header += [0, 0, 0, 0]  // checksum, urgent pointer
        header += segment.options
        var transport = header + segment.payload
        let checksum = transportChecksum(transport, protocolNumber: 6, source: source, destination: destination)
        transport[16] = UInt8(checksum >> 8)
        transport[17] = UInt8(checksum & 0xFF)
        return frame(from: source, to: destination, protocolNumber: 6, transport: transport)
    }

    public func udp(from source: Endpoint, to destination: Endpoint, payload: [UInt8]) -> [UInt8] {
        var transport = bigEndian(source.port) + bigEndian(destination.port)
        transport += bigEndian(UInt16(8 + payload.count)) + [0, 0] + payload
        var checksum = transportChecksum(transport, protocolNumber: 17, source: source, destination: destination)
        if checksum == 0 { checksum = 0xFFFF }
        transport[6] = UInt8(checksum >> 8)
        transport[7] = UInt8(checksum & 0xFF)
        return frame(from: source, to: destination, protocolNumber: 17, transport: transport)
    }

    /// Link and IP headers around a transport segment.
    public func frame(from source: Endpoint, to destination: Endpoint, protocolNumber: UInt8, transport: [UInt8]) -> [UInt8] {
        var frame = destination.mac + source.mac
        for (index, vlan) in vlanIDs.enumerated() {
            frame += bigEndian(UInt16(index == 0 && vlanIDs.count > 1 ? 0x88A8 : 0x8100)) + bigEndian(vlan)
        }
        if source.isIPv6 {
            frame += bigEndian(UInt16(0x86DD))
            frame += [0x60, 0, 0, 0] + bigEndian(UInt16(transport.count)) + [protocolNumber, 64]
            frame += source.address + destination.address
        } else {
            frame += bigEndian(UInt16(0x0800))
            var ip: [UInt8] = [0x45, 0] + bigEndian(UInt16(20 + transport.count)) + [0, 0, 0x40, 0, 64, protocolNumber, 0, 0]
            ip += source.address + destination.address
            let checksum = Self.onesComplement(ip)
            ip[10] = UInt8(checksum >> 8)
            ip[11] = UInt8(checksum & 0xFF)
            frame += ip
        }
        return frame + transport
    }

    private func transportChecksum(_ transport: [UInt8], protocolNumber: UInt8, source: Endpoint, destination: Endpoint) -> UInt16 {
        var pseudo = source.address + destination.address
        if source.isIPv6 {
            pseudo += bigEndian(UInt32(transport.count)) + [0, 0, 0, protocolNumber]
        } else {
            pseudo += [0, protocolNumber] + bigEndian(UInt16(transport.count))
        }
        return Self.onesComplement(pseudo + transport)
    }

    /// The Internet checksum (RFC 1071).
    public static func onesComplement(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        var index = 0
        while index + 1 < bytes.count {
            sum &+= UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum &+= UInt32(bytes[index]) << 8 }
        while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}

func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.bigEndian) { Array($0) }
}

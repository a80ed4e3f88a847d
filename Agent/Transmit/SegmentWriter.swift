import MBoxPacket

/// The TCP options an emitted segment carries (SYN and SYN-ACK: MSS, window scale, SACK
/// permitted; any segment: timestamps).
public struct EmittedOptions: Sendable {
    public var mss: UInt16?
    public var windowScale: UInt8?
    public var sackPermitted = false
    /// TSval and TSecr.
    public var timestamps: (value: UInt32, echo: UInt32)?
    /// SACK blocks (RFC 2018), the first `sackCount` of them; three fit beside timestamps.
    public var sackBlocks: ((UInt32, UInt32), (UInt32, UInt32), (UInt32, UInt32)) = ((0, 0), (0, 0), (0, 0))
    public var sackCount = 0
    public init() {}

    /// Bytes of options, padded to a multiple of four.
    var length: Int {
        var total = 0
        if mss != nil { total += 4 }
        if windowScale != nil { total += 4 }  // NOP + 3
        // Timestamps take 10 bytes behind two NOPs or behind SACK-permitted (2 bytes).
        if timestamps != nil { total += 12 } else if sackPermitted { total += 4 }
        if sackCount > 0 { total += 4 + 8 * sackCount }  // NOP NOP kind length, blocks
        return total
    }

    /// SACK block `index`.
    func sackBlock(_ index: Int) -> (UInt32, UInt32) {
        switch index {
        case 0: return sackBlocks.0
        case 1: return sackBlocks.1
        default: return sackBlocks.2
        }
    }

    /// Appends a SACK block (beyond three, ignored).
    public mutating func addSACK(_ start: UInt32, _ end: UInt32) {
        switch sackCount {
        case 0: sackBlocks.0 = (start, end)
        case 1: sackBlocks.1 = (start, end)
        case 2: sackBlocks.2 = (start, end)
        default: return
        }
        sackCount += 1
    }
}

/// One TCP segment to emit.
public struct EmittedSegment: Sendable {
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var sequence: UInt32
    public var acknowledgment: UInt32
    public var flags: TCPFlags
    public var window: UInt16
    public var options = EmittedOptions()
    public var ttl: UInt8 = 64

    public init(source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16,
                sequence: UInt32, acknowledgment: UInt32, flags: TCPFlags, window: UInt16) {
        self.source = source
        self.destination = destination
        self.sourcePort = sourcePort
        self.destinationPort = destinationPort
        self.sequence = sequence
        self.acknowledgment = acknowledgment
        self.flags = flags
        self.window = window
    }
}

/// Writes whole frames (link, IP, transport headers with their checksums computed in
/// software — the virtual ports this runs on offer no checksum offload) into a buffer.
public enum SegmentWriter {
    /// Writes `segment` with `payload` framed by `link` into `frame`; returns the frame's
    /// length, 0 when it does not fit.
    /// A payload in two parts (`tail` follows `payload`) comes from a ring buffer's wrap.
    public static func tcp(_ segment: EmittedSegment, payload: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                           tail: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                           link: LinkFraming, into frame: UnsafeMutableRawBufferPointer) -> Int {
        let isV4 = segment.source.isIPv4
        let optionsLength = segment.options.length
        let tcpLength = 20 + optionsLength + payload.count + tail.count
        let ipHeader = isV4 ? 20 : 40
        let network = link.length
        let total = network + ipHeader + tcpLength
        guard total <= frame.count else { return 0 }
        link.write(to: frame, etherType: isV4 ? 0x0800 : 0x86DD)
        writeIP(frame, at: network, source: segment.source, destination: segment.destination, ipProtocol: IPProtocolNumber.tcp,
                payloadLength: tcpLength, ttl: segment.ttl)
        let tcp = network + ipHeader
        frame.storeBytes(of: segment.sourcePort.bigEndian, toByteOffset: tcp, as: UInt16.self)
        frame.storeBytes(of: segment.destinationPort.bigEndian, toByteOffset: tcp + 2, as: UInt16.self)
        frame.storeBytes(of: segment.sequence.bigEndian, toByteOffset: tcp + 4, as: UInt32.self)
        frame.storeBytes(of: segment.acknowledgment.bigEndian, toByteOffset: tcp + 8, as: UInt32.self)
        frame[tcp + 12] = UInt8((20 + optionsLength) / 4) << 4
        frame[tcp + 13] = segment.flags.rawValue
        frame.storeBytes(of: segment.window.bigEndian, toByteOffset: tcp + 14, as: UInt16.self)
        frame.storeBytes(of: UInt32(0), toByteOffset: tcp + 16, as: UInt32.self)  // checksum, urgent pointer
        writeOptions(segment.options, frame, at: tcp + 20)
        if payload.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: frame[(tcp + 20 + optionsLength)...]).copyMemory(from: payload)
        }
        if tail.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: frame[(tcp + 20 + optionsLength + payload.count)...]).copyMemory(from: tail)
        }
        finishTransport(frame, network: network, isV4: isV4, transport: tcp, end: total, checksumAt: 16, ipProtocol: IPProtocolNumber.tcp)
        return total
    }

    /// An IPv4 or IPv6 header at `offset` (IPv4: no options, DF set, checksum filled).
    static func writeIP(_ frame: UnsafeMutableRawBufferPointer, at offset: Int, source: IPAddress, destination: IPAddress,
                        ipProtocol: UInt8, payloadLength: Int, ttl: UInt8) {
        if source.isIPv4 {
            frame[offset] = 0x45
            frame[offset + 1] = 0
            frame.storeBytes(of: UInt16(20 + payloadLength).bigEndian, toByteOffset: offset + 2, as: UInt16.self)
            frame.storeBytes(of: UInt32(0x0000_4000).bigEndian, toByteOffset: offset + 4, as: UInt32.self)  // ID 0, DF
            frame[offset + 8] = ttl
            frame[offset + 9] = ipProtocol
            frame.storeBytes(of: UInt16(0), toByteOffset: offset + 10, as: UInt16.self)
            frame.storeBytes(of: UInt32(truncatingIfNeeded: source.low >> 32), toByteOffset: offset + 12, as: UInt32.self)
            frame.storeBytes(of: UInt32(truncatingIfNeeded: destination.low >> 32), toByteOffset: offset + 16, as: UInt32.self)
            let checksum = TransportChecksum.ipv4Header(UnsafeRawBufferPointer(frame), offset..<(offset + 20))
            frame.storeBytes(of: checksum.bigEndian, toByteOffset: offset + 10, as: UInt16.self)
        } else {
            frame.storeBytes(of: UInt32(0x6000_0000).bigEndian, toByteOffset: offset, as: UInt32.self)
            frame.storeBytes(of: UInt16(payloadLength).bigEndian, toByteOffset: offset + 4, as: UInt16.self)
            frame[offset + 6] = ipProtocol
            frame[offset + 7] = ttl
            frame.storeBytes(of: source.high, toByteOffset: offset + 8, as: UInt64.self)
            frame.storeBytes(of: source.low, toByteOffset: offset + 16, as: UInt64.self)
            frame.storeBytes(of: destination.high, toByteOffset: offset + 24, as: UInt64.self)
            frame.storeBytes(of: destination.low, toByteOffset: offset + 32, as: UInt64.self)
        }
    }

    /// Fills the transport checksum of the segment at `transport..<end`.
    static func finishTransport(_ frame: UnsafeMutableRawBufferPointer, network: Int, isV4: Bool, transport: Int, end: Int,
                                checksumAt: Int, ipProtocol: UInt8) {
        let addresses = isV4 ? (network + 12)..<(network + 20) : (network + 8)..<(network + 40)
        let checksum = TransportChecksum.compute(UnsafeRawBufferPointer(frame), segment: transport..<end, addresses: addresses,
                                                 ipProtocol: ipProtocol)
        frame.storeBytes(of: checksum.bigEndian, toByteOffset: transport + checksumAt, as: UInt16.self)
    }

    private static func writeOptions(_ options: EmittedOptions, _ frame: UnsafeMutableRawBufferPointer, at start: Int) {
        var offset = start
        func put(_ bytes: UInt8...) { for byte in bytes { frame[offset] = byte; offset += 1 } }
        if let mss = options.mss { put(2, 4, UInt8(mss >> 8), UInt8(mss & 0xFF)) }
        if options.sackPermitted {
            if options.timestamps != nil { put(4, 2) } else { put(1, 1, 4, 2) }
        }
        if let (value, echo) = options.timestamps {
            if !options.sackPermitted { put(1, 1) }
            put(8, 10)
            frame.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
            frame.storeBytes(of: echo.bigEndian, toByteOffset: offset + 4, as: UInt32.self)
            offset += 8
        }
        if let scale = options.windowScale { put(1, 3, 3, scale) }
        if options.sackCount > 0 {
            put(1, 1, 5, UInt8(2 + 8 * options.sackCount))
            for index in 0..<options.sackCount {
                let (start, end) = options.sackBlock(index)
                frame.storeBytes(of: start.bigEndian, toByteOffset: offset, as: UInt32.self)
                frame.storeBytes(of: end.bigEndian, toByteOffset: offset + 4, as: UInt32.self)
                offset += 8
            }
        }
    }
}

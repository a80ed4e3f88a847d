/// One pcapng interface description: how its packets are framed and timed.
struct PcapNGInterface {
    var linkType: LinkType
    var snapLength: UInt32
    /// Timestamp units per second (if_tsresol; 10^6 by default).
    var unitsPerSecond: UInt64
    /// Seconds added to every timestamp (if_tsoffset).
    var offsetSeconds: Int64

    func nanoseconds(_ units: UInt64) -> UInt64 {
        let base: UInt64
        if unitsPerSecond == 1_000_000_000 {
            base = units
        } else if 1_000_000_000 % unitsPerSecond == 0 {
            base = units &* (1_000_000_000 / unitsPerSecond)
        } else {
            base = (units / unitsPerSecond) &* 1_000_000_000
                &+ (units % unitsPerSecond).multipliedFullWidth(by: 1_000_000_000).low / unitsPerSecond
        }
        return UInt64(bitPattern: Int64(bitPattern: base) &+ offsetSeconds &* 1_000_000_000)
    }
}

/// Block-by-block pcapng decoding state: the current section's byte order and interfaces.
struct PcapNGState {
    private(set) var interfaces: [PcapNGInterface] = []
    private var swapped = false

    private enum BlockType {
        static let sectionHeader: UInt32 = 0x0A0D_0D0A
        static let interfaceDescription: UInt32 = 1
        static let obsoletePacket: UInt32 = 2
        static let simplePacket: UInt32 = 3
        static let enhancedPacket: UInt32 = 6
    }

    /// Consumes leading blocks until the first interface is declared (or a packet appears).
    mutating func readUntilFirstInterface(_ bytes: UnsafeRawBufferPointer, offset: inout Int) throws {
        while interfaces.isEmpty, offset < bytes.count {
            let start = offset
            if try nextPacket(bytes, offset: &offset, stopAfterInterface: true) != nil {
                offset = start  // a packet before any IDB: leave it for next(), which reports it
                return
            }
        }
    }

    mutating func nextPacket(_ bytes: UnsafeRawBufferPointer, offset: inout Int) throws -> CapturedPacket? {
        try nextPacket(bytes, offset: &offset, stopAfterInterface: false)
    }

    private mutating func nextPacket(_ bytes: UnsafeRawBufferPointer, offset: inout Int,
                                     stopAfterInterface: Bool) throws -> CapturedPacket? {
        while offset < bytes.count {
            let start = offset
            let remaining = bytes.count - start
            guard remaining >= 12 else {
                throw CaptureFileError.truncatedRecord(offset: start, needed: 12, available: remaining)
            }
            var type = bytes.loadUnaligned(fromByteOffset: start, as: UInt32.self)
            if type == BlockType.sectionHeader {
                // The byte-order magic decides how this whole section is read.
                let magic = bytes.loadUnaligned(fromByteOffset: start + 8, as: UInt32.self)
                switch magic {
                case 0x1A2B_3C4D: swapped = false
                case 0x4D3C_2B1A: swapped = true
                default: throw CaptureFileError.malformedBlock(offset: start, reason: "bad byte-order magic")
                }
                interfaces.removeAll(keepingCapacity: true)
            }
            let reader = ByteOrderedReader(bytes: bytes, swapped: swapped)
            type = reader.u32(start)
            let length = Int(reader.u32(start + 4))
            guard length >= 12, length % 4 == 0 else {
                throw CaptureFileError.malformedBlock(offset: start, reason: "block length \(length) is not a multiple of 4 of at least 12")
            }
            guard length <= remaining else {
                throw CaptureFileError.truncatedRecord(offset: start, needed: length, available: remaining)
            }
            guard Int(reader.u32(start + length - 4)) == length else {
                throw CaptureFileError.malformedBlock(offset: start, reason: "trailing length differs from leading length")
            }
            offset = start + length
            let body = start + 8
            let bodyLength = length - 12

            switch type {
            case BlockType.interfaceDescription:
                guard bodyLength >= 8 else { throw CaptureFileError.malformedBlock(offset: start, reason: "IDB too short") }
                var interface = PcapNGInterface(
                    linkType: LinkType(rawValue: UInt32(reader.u16(body))),
                    snapLength: reader.u32(body + 4), unitsPerSecond: 1_000_000, offsetSeconds: 0)
                try readInterfaceOptions(reader, from: body + 8, to: body + bodyLength, blockStart: start, into: &interface)
                interfaces.append(interface)
                if stopAfterInterface { return nil }

            case BlockType.enhancedPacket, BlockType.obsoletePacket:
                guard bodyLength >= 20 else { throw CaptureFileError.malformedBlock(offset: start, reason: "packet block too short") }
                let interfaceID = type == BlockType.enhancedPacket ? reader.u32(body) : UInt32(reader.u16(body))
                let interface = try self.interface(interfaceID, blockStart: start)
                let units = UInt64(reader.u32(body + 4)) << 32 | UInt64(reader.u32(body + 8))
                let captured = Int(reader.u32(body + 12))
                let original = reader.u32(body + 16)
                guard captured <= bodyLength - 20 else {
                    throw CaptureFileError.malformedBlock(offset: start, reason: "captured length \(captured) runs past the block")
                }
                let data = UnsafeRawBufferPointer(rebasing: bytes[(body + 20)..<(body + 20 + captured)])
                return CapturedPacket(timestamp: interface.nanoseconds(units), data: data, originalLength: original,
                                      linkType: interface.linkType, interfaceID: interfaceID)

            case BlockType.simplePacket:
                guard bodyLength >= 4 else { throw CaptureFileError.malformedBlock(offset: start, reason: "SPB too short") }
                let interface = try self.interface(0, blockStart: start)
                let original = reader.u32(body)
                var captured = min(Int(original), bodyLength - 4)
                if interface.snapLength > 0 { captured = min(captured, Int(interface.snapLength)) }
                let data = UnsafeRawBufferPointer(rebasing: bytes[(body + 4)..<(body + 4 + captured)])
                // Simple packet blocks carry no timestamp.
                return CapturedPacket(timestamp: 0, data: data, originalLength: original,
                                      linkType: interface.linkType, interfaceID: 0)

            default:
                continue  // section header, statistics, name resolution, custom blocks: nothing to deliver
            }
        }
        return nil
    }

    private func interface(_ id: UInt32, blockStart: Int) throws -> PcapNGInterface {
        guard Int(id) < interfaces.count else { throw CaptureFileError.unknownInterface(offset: blockStart, interfaceID: id) }
        return interfaces[Int(id)]
    }

    private func readInterfaceOptions(_ reader: ByteOrderedReader, from: Int, to end: Int, blockStart: Int,
                                      into interface: inout PcapNGInterface) throws {
        var cursor = from
        while cursor + 4 <= end {
            let code = reader.u16(cursor)
            let length = Int(reader.u16(cursor + 2))
            let value = cursor + 4
            guard value + length <= end else {
                throw CaptureFileError.malformedBlock(offset: blockStart, reason: "IDB option \(code) runs past the block")
            }
            switch code {
            case 0:
                return  // opt_endofopt
            case 9 where length >= 1:  // if_tsresol
                let resolution = reader.bytes[value]
                let exponent = UInt64(resolution & 0x7F)
                guard exponent <= (resolution & 0x80 != 0 ? 63 : 19) else {
                    throw CaptureFileError.malformedBlock(offset: blockStart, reason: "if_tsresol \(resolution) out of range")
                }
                if resolution & 0x80 != 0 {
                    interface.unitsPerSecond = 1 << exponent
                } else {
                    var units: UInt64 = 1
                    for _ in 0..<exponent { units *= 10 }
                    interface.unitsPerSecond = units
                }
            case 14 where length >= 8:  // if_tsoffset
                let raw = reader.bytes.loadUnaligned(fromByteOffset: value, as: UInt64.self)
                interface.offsetSeconds = Int64(bitPattern: reader.swapped ? raw.byteSwapped : raw)
            default:
                break
            }
            cursor = value + (length + 3) & ~3
        }
    }
}

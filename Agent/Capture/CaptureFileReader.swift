/// The container format of a capture file.
public enum CaptureFormat: Equatable, Sendable {
    /// Classic libpcap; `nanosecond` for the 0xa1b23c4d variant; `swapped` when the
    /// file's byte order differs from this host's.
    case pcap(nanosecond: Bool, swapped: Bool)
    /// pcapng (sections, interfaces, enhanced and simple packet blocks).
    case pcapng
}

/// Reads packets from a pcap or pcapng file (or from bytes already in memory) one at a
/// time, without copying them: each `CapturedPacket.data` points into the mapping.
///
/// The format is detected from the first four bytes. Structural damage (a record that
/// runs past the end of the file, an impossible block length) is reported by `next()`
/// as a `CaptureFileError` naming the byte offset; the packets before it were delivered.
public final class CaptureFileReader {
    /// Records larger than this are refused rather than trusted (256 KiB covers TSO/GRO captures).
    public static let maximumRecordLength = 262_144

    public let format: CaptureFormat
    /// The link type of the first interface (classic pcap has exactly one).
    public private(set) var linkType: LinkType
    /// Total bytes of input, and how far reading has got (for progress reports).
    public var totalBytes: Int { bytes.count }
    public private(set) var offset: Int

    private let mapping: MappedFile?
    private let bytes: UnsafeRawBufferPointer
    private var pcapng: PcapNGState

    /// Opens and memory-maps the file at `path`.
    public convenience init(path: String) throws {
        let mapping = try MappedFile(path: path)
        try self.init(bytes: mapping.bytes, mapping: mapping)
    }

    /// Reads from bytes the caller keeps alive for the reader's lifetime.
    public convenience init(bytes: UnsafeRawBufferPointer) throws {
        try self.init(bytes: bytes, mapping: nil)
    }

    private init(bytes: UnsafeRawBufferPointer, mapping: MappedFile?) throws {
        self.bytes = bytes
        self.mapping = mapping
        self.pcapng = PcapNGState()
        guard bytes.count >= 4 else { throw CaptureFileError.truncatedHeader(needed: 24, available: bytes.count) }
        let magic = bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)
        switch magic {
        case 0xa1b2_c3d4, 0xd4c3_b2a1, 0xa1b2_3c4d, 0x4d3c_b2a1:
            guard bytes.count >= 24 else { throw CaptureFileError.truncatedHeader(needed: 24, available: bytes.count) }
            let swapped = magic == 0xd4c3_b2a1 || magic == 0x4d3c_b2a1
            let nano = magic == 0xa1b2_3c4d || magic == 0x4d3c_b2a1
            format = .pcap(nanosecond: nano, swapped: swapped)
            let reader = ByteOrderedReader(bytes: bytes, swapped: swapped)
            // The top bits of the link-type field carry FCS information (pcap-linktype(7)).
            linkType = LinkType(rawValue: reader.u32(20) & 0x0FFF_FFFF)
            offset = 24
        case 0x0A0D_0D0A:
            format = .pcapng
            linkType = LinkType(rawValue: 0)
            offset = 0
            // Read blocks up to the first interface so `linkType` is known before the first packet.
            try pcapng.readUntilFirstInterface(bytes, offset: &offset)
            linkType = pcapng.interfaces.first?.linkType ?? LinkType(rawValue: 0)
        default:
            throw CaptureFileError.unknownFormat(magic: magic.bigEndian)
        }
    }

    /// Where the next record starts in the mapped file (nil at its end): a port reading
    /// ahead asks the CPU to fetch it while it works on earlier packets.
    public var upcoming: UnsafeRawPointer? {
        offset < bytes.count ? bytes.baseAddress.map { $0 + offset } : nil
    }

    /// The next packet, or nil at the end of the input.
    public func next() throws -> CapturedPacket? {
        switch format {
        case let .pcap(nano, swapped):
            return try nextPcapRecord(nanosecond: nano, swapped: swapped)
        case .pcapng:
            return try pcapng.nextPacket(bytes, offset: &offset)
        }
    }

    /// Records skipped because they claim more than `maximumRecordLength` (the bytes are in
    /// the file, so reading goes on after them, as Suricata does), and the first one's offset.
    public private(set) var oversizedRecords: UInt64 = 0
    public private(set) var firstOversizedOffset: Int?

    private func nextPcapRecord(nanosecond: Bool, swapped: Bool) throws -> CapturedPacket? {
        while true {
            if let packet = try readPcapRecord(nanosecond: nanosecond, swapped: swapped) { return packet }
            if offset == bytes.count { return nil }
        }
    }

    /// One record: nil at the end of input or for a skipped oversized record.
    private func readPcapRecord(nanosecond: Bool, swapped: Bool) throws -> CapturedPacket? {
        let remaining = bytes.count - offset
        if remaining == 0 { return nil }
        guard remaining >= 16 else {
            throw CaptureFileError.truncatedRecord(offset: offset, needed: 16, available: remaining)
        }
        let reader = ByteOrderedReader(bytes: bytes, swapped: swapped)
        let seconds = UInt64(reader.u32(offset))
        let fraction = UInt64(reader.u32(offset + 4))
        let captured = Int(reader.u32(offset + 8))
        let original = reader.u32(offset + 12)
        guard remaining - 16 >= captured else {
            if captured > Self.maximumRecordLength {
                throw CaptureFileError.recordTooLarge(offset: offset, length: captured, limit: Self.maximumRecordLength)
            }
            throw CaptureFileError.truncatedRecord(offset: offset, needed: 16 + captured, available: remaining)
        }
        guard captured <= Self.maximumRecordLength else {
            // The bytes are there: skip the record, count it, go on.
            oversizedRecords += 1
            if firstOversizedOffset == nil { firstOversizedOffset = offset }
            offset += 16 + captured
            return nil
        }
        let data = UnsafeRawBufferPointer(rebasing: bytes[(offset + 16)..<(offset + 16 + captured)])
        offset += 16 + captured
        let timestamp = seconds &* 1_000_000_000 &+ (nanosecond ? fraction : fraction &* 1000)
        return CapturedPacket(timestamp: timestamp, data: data, originalLength: original, linkType: linkType)
    }
}

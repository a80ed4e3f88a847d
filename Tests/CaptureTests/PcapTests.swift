import Foundation
import MBoxCapture
import Testing

private func temporaryPath(_ name: String) -> String {
    NSTemporaryDirectory() + "mbox-capture-\(UUID().uuidString)-\(name)"
}

private func readAll(_ reader: CaptureFileReader) throws -> [(UInt64, [UInt8], LinkType, UInt32)] {
    var packets: [(UInt64, [UInt8], LinkType, UInt32)] = []
    while let packet = try reader.next() {
        packets.append((packet.timestamp, Array(packet.data), packet.linkType, packet.interfaceID))
    }
    return packets
}

/// Little helper to build capture files byte by byte in either byte order.
struct ByteWriter {
    var bytes: [UInt8] = []
    let bigEndian: Bool
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: bigEndian ? v.bigEndian : v.littleEndian) { bytes += $0 } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: bigEndian ? v.bigEndian : v.littleEndian) { bytes += $0 } }
    mutating func raw(_ v: [UInt8]) { bytes += v }
}

@Suite("pcap")
struct PcapTests {
    @Test("write then read back, microsecond and nanosecond", arguments: [false, true])
    func roundTrip(nanosecond: Bool) throws {
        let path = temporaryPath("rt.pcap")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try PcapWriter(.file(path: path), linkType: .raw, nanosecond: nanosecond)
        let stamps: [UInt64] = [1_700_000_000_123_456_789, 1_700_000_001_000_001_000]
        try writer.write(timestamp: stamps[0], bytes: [0x45, 1, 2, 3])
        try writer.write(timestamp: stamps[1], bytes: Array(repeating: 7, count: 1500))
        try writer.close()

        let reader = try CaptureFileReader(path: path)
        #expect(reader.format == .pcap(nanosecond: nanosecond, swapped: false))
        #expect(reader.linkType == .raw)
        let packets = try readAll(reader)
        #expect(packets.count == 2)
        #expect(packets[0].0 == (nanosecond ? stamps[0] : stamps[0] / 1000 * 1000))
        #expect(packets[1].0 == stamps[1])
        #expect(packets[0].1 == [0x45, 1, 2, 3])
        #expect(packets[1].1.count == 1500)
    }

    @Test("big-endian pcap is read with swapped fields")
    func bigEndianFile() throws {
        var w = ByteWriter(bigEndian: true)
        w.u32(0xa1b2_c3d4); w.u16(2); w.u16(4); w.u32(0); w.u32(0); w.u32(65535); w.u32(1)
        w.u32(1_600_000_000); w.u32(250_000); w.u32(3); w.u32(60); w.raw([9, 8, 7])
        let bytes = w.bytes
        try bytes.withUnsafeBytes { buffer in
            let reader = try CaptureFileReader(bytes: buffer)
            #expect(reader.format == .pcap(nanosecond: false, swapped: true))
            #expect(reader.linkType == .ethernet)
            let packet = try #require(try reader.next())
            #expect(packet.timestamp == 1_600_000_000_250_000_000)
            #expect(Array(packet.data) == [9, 8, 7])
            #expect(packet.originalLength == 60)
            #expect(try reader.next() == nil)
        }
    }

    @Test("a record running past the end is an error naming its offset")
    func truncatedRecord() throws {
        let writer = try PcapWriter(.memory)
        try writer.write(timestamp: 0, bytes: [1, 2, 3, 4])
        try writer.write(timestamp: 0, bytes: [5, 6, 7, 8])
        let bytes = Array(writer.memory.dropLast(2))
        try bytes.withUnsafeBytes { buffer in
            let reader = try CaptureFileReader(bytes: buffer)
            #expect(try reader.next() != nil)
            #expect(throws: CaptureFileError.truncatedRecord(offset: 44, needed: 20, available: 18)) { try reader.next() }
        }
    }

    @Test("an absurd record length is refused, not trusted")
    func hugeRecord() throws {
        var w = ByteWriter(bigEndian: false)
        w.u32(0xa1b2_c3d4); w.u16(2); w.u16(4); w.u32(0); w.u32(0); w.u32(65535); w.u32(1)
        w.u32(0); w.u32(0); w.u32(0xFFFF_FFF0); w.u32(60)
        try w.bytes.withUnsafeBytes { buffer in
            let reader = try CaptureFileReader(bytes: buffer)
            #expect(throws: CaptureFileError.self) { try reader.next() }
        }
    }

    @Test("not a capture, empty file, missing file: clear errors")
    func badFiles() throws {
        _ = [UInt8]("hello world, not a pcap".utf8).withUnsafeBytes { buffer in
            #expect(throws: CaptureFileError.unknownFormat(magic: 0x6865_6c6c)) { try CaptureFileReader(bytes: buffer) }
        }
        let empty = temporaryPath("empty.pcap")
        _ = FileManager.default.createFile(atPath: empty, contents: Data())
        defer { try? FileManager.default.removeItem(atPath: empty) }
        #expect(throws: CaptureFileError.truncatedHeader(needed: 24, available: 0)) { try CaptureFileReader(path: empty) }
        let missing = temporaryPath("missing.pcap")
        do {
            _ = try CaptureFileReader(path: missing)
            Issue.record("opening a missing file succeeded")
        } catch let error as CaptureFileError {
            #expect("\(error)".contains("No such file"))
        }
        #expect(throws: CaptureFileError.notARegularFile(path: "/tmp")) { try CaptureFileReader(path: "/tmp") }
    }
}

@Suite("pcapng")
struct PcapNGTests {
    /// A pcapng file: two interfaces (Ethernet with nanosecond resolution, raw IP with the
    /// default microseconds), EPBs on both, an SPB, an unknown block, in the given byte order.
    static func sample(bigEndian: Bool) -> [UInt8] {
        var w = ByteWriter(bigEndian: bigEndian)
        func block(_ type: UInt32, _ body: [UInt8]) {
            let padded = body + [UInt8](repeating: 0, count: (4 - body.count % 4) % 4)
            w.u32(type); w.u32(UInt32(padded.count + 12)); w.raw(padded); w.u32(UInt32(padded.count + 12))
        }
        func body(_ build: (inout ByteWriter) -> Void) -> [UInt8] {
            var b = ByteWriter(bigEndian: bigEndian)
            build(&b)
            return b.bytes
        }
        block(0x0A0D_0D0A, body { $0.u32(0x1A2B_3C4D); $0.u16(1); $0.u16(0); $0.u32(0xFFFF_FFFF); $0.u32(0xFFFF_FFFF) })
        block(1, body { $0.u16(1); $0.u16(0); $0.u32(0); $0.u16(9); $0.u16(1); $0.raw([9, 0, 0, 0]); $0.u16(0); $0.u16(0) })
        block(1, body { $0.u16(101); $0.u16(0); $0.u32(0) })
        block(6, body { $0.u32(0); $0.u32(0); $0.u32(5); $0.u32(3); $0.u32(3); $0.raw([1, 2, 3]) })
        block(0x0BAD, [1, 2, 3, 4])
        block(6, body { $0.u32(1); $0.u32(0); $0.u32(2_000_000); $0.u32(2); $0.u32(2); $0.raw([0x45, 0]) })
        block(3, body { $0.u32(4); $0.raw([4, 5, 6, 7]) })
        return w.bytes
    }

    @Test("reads interfaces, resolutions, EPB and SPB in both byte orders", arguments: [false, true])
    func sections(bigEndian: Bool) throws {
        try Self.sample(bigEndian: bigEndian).withUnsafeBytes { buffer in
            let reader = try CaptureFileReader(bytes: buffer)
            #expect(reader.format == .pcapng)
            #expect(reader.linkType == .ethernet)
            let packets = try readAll(reader)
            #expect(packets.count == 3)
            #expect(packets[0].0 == 5 && packets[0].1 == [1, 2, 3] && packets[0].2 == .ethernet && packets[0].3 == 0)
            #expect(packets[1].0 == 2_000_000_000 && packets[1].2 == .raw && packets[1].3 == 1)
            #expect(packets[2].1 == [4, 5, 6, 7] && packets[2].2 == .ethernet)
        }
    }

    @Test("a packet naming an undeclared interface is an error")
    func unknownInterface() throws {
        var bytes = Self.sample(bigEndian: false)
        // Interface id of the second EPB (after SHB 28, IDB 32, IDB 20, EPB 36, unknown 16).
        let epb = 28 + 32 + 20 + 36 + 16
        bytes[epb + 8] = 7
        try bytes.withUnsafeBytes { buffer in
            let reader = try CaptureFileReader(bytes: buffer)
            _ = try reader.next()
            #expect(throws: CaptureFileError.unknownInterface(offset: epb, interfaceID: 7)) { try reader.next() }
        }
    }

    @Test("the same packets as tshark's pcapng conversion of a pcap")
    func matchesTsharkConversion() throws {
        let pcap = temporaryPath("conv.pcap"), pcapng = temporaryPath("conv.pcapng")
        defer { for p in [pcap, pcapng] { try? FileManager.default.removeItem(atPath: p) } }
        let writer = try PcapWriter(.file(path: pcap), nanosecond: true)
        for index in 0..<50 {
            let frame = [UInt8](repeating: 0xAB, count: 12) + [0x08, 0x00] + [UInt8](repeating: UInt8(index), count: 20 + index)
            try writer.write(timestamp: 1_700_000_000_000_000_000 + UInt64(index) * 1_234_567, bytes: frame)
        }
        try writer.close()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["editcap", "-F", "pcapng", pcap, pcapng]
        process.standardError = FileHandle.nullDevice
        try #require((try? process.run()) != nil, "editcap (from tshark's packages) is needed")
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        let classic = try readAll(CaptureFileReader(path: pcap))
        let converted = try readAll(CaptureFileReader(path: pcapng))
        #expect(converted.count == classic.count)
        for (a, b) in zip(classic, converted) {
            #expect(a.0 == b.0 && a.1 == b.1 && a.2 == b.2)
        }
    }
}

@Suite("pcap: oversized records")
struct OversizedRecordTests {
    @Test("a record over the limit whose bytes are there is skipped and counted; reading goes on")
    func skipped() throws {
        var file = ByteWriter(bigEndian: false)
        file.u32(0xA1B2_C3D4); file.u16(2); file.u16(4); file.u32(0); file.u32(0); file.u32(65535); file.u32(101)
        for (index, size) in [60, CaptureFileReader.maximumRecordLength + 1, 70].enumerated() {
            file.u32(UInt32(1000 + index)); file.u32(0); file.u32(UInt32(size)); file.u32(UInt32(size))
            file.raw([0x45] + Array(repeating: UInt8(index), count: size - 1))
        }
        let path = temporaryPath("big.pcap")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(file.bytes).write(to: URL(fileURLWithPath: path))
        let reader = try CaptureFileReader(path: path)
        let packets = try readAll(reader)
        #expect(packets.map(\.1.count) == [60, 70])
        #expect(reader.oversizedRecords == 1 && reader.firstOversizedOffset == 24 + 16 + 60)

        // Claiming more than the file holds is still an error naming the offset.
        let cut = Array(file.bytes.prefix(24 + 16 + 60 + 16 + 1000))
        try Data(cut).write(to: URL(fileURLWithPath: path))
        #expect(throws: CaptureFileError.self) { _ = try readAll(CaptureFileReader(path: path)) }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a classic pcap file (host byte order, microsecond or nanosecond timestamps),
/// either to a file through stdio's buffer or into memory.
public final class PcapWriter {
    public enum Destination {
        case file(path: String)
        case memory
    }

    public let linkType: LinkType
    public let nanosecond: Bool
    public let snapLength: UInt32
    public private(set) var packetsWritten = 0

    /// The whole file so far, when writing to `.memory`.
    public private(set) var memory: [UInt8] = []
    private var file: UnsafeMutablePointer<FILE>?
    private let path: String

    public init(_ destination: Destination, linkType: LinkType = .ethernet,
                nanosecond: Bool = false, snapLength: UInt32 = 262_144) throws {
        self.linkType = linkType
        self.nanosecond = nanosecond
        self.snapLength = snapLength
        switch destination {
        case let .file(path):
            self.path = path
            guard let handle = fopen(path, "wb") else {
                throw CaptureFileError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
            file = handle
        case .memory:
            self.path = "<memory>"
        }
        var header = [UInt8]()
        header.reserveCapacity(24)
        append(UInt32(nanosecond ? 0xa1b2_3c4d : 0xa1b2_c3d4), to: &header)
        append(UInt16(2), to: &header)
        append(UInt16(4), to: &header)
        append(UInt32(0), to: &header)  // thiszone
        append(UInt32(0), to: &header)  // sigfigs
        append(snapLength, to: &header)
        append(linkType.rawValue, to: &header)
        try emit(header)
    }

    deinit { if let file { fclose(file) } }

    /// Appends one packet; bytes beyond the snap length are cut, as a capture would.
    public func write(timestamp: UInt64, bytes: UnsafeRawBufferPointer, originalLength: Int? = nil) throws {
        let captured = min(bytes.count, Int(snapLength))
        var record = [UInt8]()
        record.reserveCapacity(16)
        append(UInt32(truncatingIfNeeded: timestamp / 1_000_000_000), to: &record)
        let fraction = timestamp % 1_000_000_000
        append(UInt32(nanosecond ? fraction : fraction / 1000), to: &record)
        append(UInt32(captured), to: &record)
        append(UInt32(originalLength ?? bytes.count), to: &record)
        try emit(record)
        try emit(UnsafeRawBufferPointer(rebasing: bytes[0..<captured]))
        packetsWritten += 1
    }

    public func write(timestamp: UInt64, bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write(timestamp: timestamp, bytes: $0) }
    }

    /// Flushes and closes the file; further writes fail.
    public func close() throws {
        guard let handle = file else { return }
        file = nil
        if fclose(handle) != 0 {
            throw CaptureFileError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
    }

    private func append<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value) { buffer.append(contentsOf: $0) }
    }

    private func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try emit($0) }
    }

    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        if let file {
            guard fwrite(base, 1, bytes.count, file) == bytes.count else {
                throw CaptureFileError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
            }
        } else if path == "<memory>" {
            memory.append(contentsOf: bytes)
        } else {
            throw CaptureFileError.cannotWrite(path: path, reason: "writer is closed")
        }
    }
}

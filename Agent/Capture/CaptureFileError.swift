/// Why a capture file could not be read. Every case names where the problem is.
public enum CaptureFileError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case notARegularFile(path: String)
    case unknownFormat(magic: UInt32)
    case truncatedHeader(needed: Int, available: Int)
    case truncatedRecord(offset: Int, needed: Int, available: Int)
    case recordTooLarge(offset: Int, length: Int, limit: Int)
    case malformedBlock(offset: Int, reason: String)
    case unknownInterface(offset: Int, interfaceID: UInt32)
    case cannotWrite(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason):
            return "cannot open \(path): \(reason)"
        case let .notARegularFile(path):
            return "\(path) is not a regular file (capture files are memory-mapped)"
        case let .unknownFormat(magic):
            return "not a pcap or pcapng file (magic 0x\(String(magic, radix: 16)))"
        case let .truncatedHeader(needed, available):
            return "file header truncated: need \(needed) bytes, file has \(available)"
        case let .truncatedRecord(offset, needed, available):
            return "record at byte \(offset) truncated: need \(needed) bytes, \(available) remain"
        case let .recordTooLarge(offset, length, limit):
            return "record at byte \(offset) claims \(length) bytes, above the limit of \(limit)"
        case let .malformedBlock(offset, reason):
            return "pcapng block at byte \(offset): \(reason)"
        case let .unknownInterface(offset, id):
            return "pcapng block at byte \(offset) names interface \(id), which no IDB declared"
        case let .cannotWrite(path, reason):
            return "cannot write \(path): \(reason)"
        }
    }
}

/// Where one direction of an HTTP/1.x connection is: in a message's header block, in its
/// body (by Content-Length, by chunks, or until the connection closes), or in a tunnel
/// (after `101 Switching Protocols` or a `CONNECT`). Reads the stream as it passes, so a
/// rewriter knows which bytes are header blocks; bodies are never touched.
struct HTTPMessageFramer {
    enum Phase: Equatable {
        case headers
        case body(remaining: UInt64)
        case chunkSize
        /// Chunk data and its CRLF.
        case chunkData(remaining: UInt64)
        case trailers
        /// To the end of the connection: a response without length, a tunnel, or a stream
        /// that stopped looking like HTTP.
        case opaque
    }

    var phase = Phase.headers
    /// The stream offset parsing continues from (a header block's start while it is incomplete).
    var position: UInt64 = 0

    /// A header block found in a chunk, for the rewriter.
    struct HeaderBlock {
        /// The block's bytes in the chunk: start line, header lines, final CRLF.
        var range: Range<Int>
    }

    /// The largest header block held back while incomplete; a longer one passes unread.
    static let headerLimit = 16 * 1024

    /// The body that follows a header block, as RFC 9112 §6.3 decides.
    enum Framing { case none, length(UInt64), chunked, untilClose, tunnel }

    static func find(_ needle: [UInt8], in bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        guard needle.count <= bytes.count - start, start >= 0 else { return nil }
        var index = start
        let last = bytes.count - needle.count
        while index <= last {
            if bytes[index] == needle[0] {
                var match = true
                for offset in 1..<needle.count where bytes[index + offset] != needle[offset] {
                    match = false
                    break
                }
                if match { return index }
            }
            index += 1
        }
        return nil
    }

    /// Parses `bytes` (stream offset `offset`); `headerBlock` is called for each complete
    /// header block and returns how its body is framed. Returns where to hold back from
    /// (an incomplete header block or chunk-size line), nil when every byte was read.
    mutating func read(_ bytes: UnsafeRawBufferPointer, offset: UInt64, final: Bool,
                       headerBlock: (HeaderBlock) -> Framing) -> Int? {
        var index = Int(position &- offset)
        guard index >= 0, index <= bytes.count else {
            // Out of step (bytes this framer did not see): stop interpreting.
            phase = .opaque
            position = offset &+ UInt64(bytes.count)
            return nil
        }
        defer { position = offset &+ UInt64(index) }
        while index < bytes.count {
            switch phase {
            case .headers:
                guard let end = Self.find([13, 10, 13, 10], in: bytes, from: index) else {
                    if final || bytes.count - index > Self.headerLimit {
                        phase = .opaque
                        index = bytes.count
                        return nil
                    }
                    return index
                }
                let block = HeaderBlock(range: index..<(end + 4))
                index = end + 4
                switch headerBlock(block) {
                case .none: phase = .headers
                case let .length(count): phase = count == 0 ? .headers : .body(remaining: count)
                case .chunked: phase = .chunkSize
                case .untilClose, .tunnel: phase = .opaque
                }
            case let .body(remaining):
                let take = min(remaining, UInt64(bytes.count - index))
                index += Int(take)
                phase = take == remaining ? .headers : .body(remaining: remaining - take)
            case .chunkSize, .trailers:
                guard let end = Self.find([13, 10], in: bytes, from: index) else {
                    if final || bytes.count - index > 1024 {
                        phase = .opaque
                        index = bytes.count
                        return nil
                    }
                    return index
                }
                if phase == .trailers {
                    // Trailer lines until an empty one ends the message.
                    if end == index { phase = .headers }
                } else {
                    guard let size = Self.chunkSize(bytes, index..<end) else {
                        phase = .opaque
                        index = bytes.count
                        return nil
                    }
                    phase = size == 0 ? .trailers : .chunkData(remaining: size + 2)
                }
                index = end + 2
            case let .chunkData(remaining):
                let take = min(remaining, UInt64(bytes.count - index))
                index += Int(take)
                phase = take == remaining ? .chunkSize : .chunkData(remaining: remaining - take)
            case .opaque:
                index = bytes.count
            }
        }
        return nil
    }

    /// A chunk-size line's hexadecimal size (extensions after ';' ignored).
    static func chunkSize(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>) -> UInt64? {
        var size: UInt64 = 0
        var digits = 0
        for index in line {
            let byte = bytes[index]
            let value: UInt64
            switch byte {
            case 0x30...0x39: value = UInt64(byte - 0x30)
            case 0x41...0x46: value = UInt64(byte - 0x41 + 10)
            case 0x61...0x66: value = UInt64(byte - 0x61 + 10)
            case 0x3B, 0x20, 0x09: return digits > 0 ? size : nil
            default: return nil
            }
            digits += 1
            guard digits <= 15 else { return nil }
            size = size << 4 | value
        }
        return digits > 0 ? size : nil
    }
}

/// How the body after an HTTP/1.x header block is framed (RFC 9112 §6.3).
public enum HTTPBodyFraming: Equatable, Sendable {
    /// No body: the next byte starts the next message.
    case none
    case length(UInt64)
    case chunked
    /// To the end of the connection (a response without length).
    case untilClose
    /// The direction is not read further: a tunnel (`CONNECT`, `101`) or a head its reader refused.
    case stop

    /// A request's body by its `Transfer-Encoding` (`chunked` among its codings) and
    /// `Content-Length`; `CONNECT` turns the connection into a tunnel.
    public static func request(isConnect: Bool, chunked: Bool, contentLength: UInt64?) -> Self {
        if isConnect { return .stop }
        if chunked { return .chunked }
        return .length(contentLength ?? 0)
    }

    /// A response's body, given the request it answers (`HEAD` has no body in reply; a 2xx
    /// to `CONNECT` opens a tunnel). `nil` for an informational (1xx but 101) response,
    /// which precedes the final one and answers no request by itself.
    public static func response(status: Int, toHead: Bool, toConnect: Bool, chunked: Bool, contentLength: UInt64?) -> Self {
        if status == 101 || (toConnect && (200..<300).contains(status)) { return .stop }
        if toHead || status / 100 == 1 || status == 204 || status == 304 { return .none }
        if chunked { return .chunked }
        if let contentLength { return .length(contentLength) }
        return .untilClose
    }
}

/// What reads one direction of an HTTP/1.x connection through an `HTTPFramer`: its
/// header blocks (and how each one's body is framed), optionally body bytes and message ends.
public protocol HTTPFrameReader {
    /// A complete header block at `range` of `bytes` (start line through the blank line).
    mutating func headerBlock(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTPBodyFraming
    /// Body bytes of the current message, chunk framing removed.
    mutating func body(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>)
    /// The current message is complete (body and trailers read, or a message without body).
    mutating func messageEnd()
}

extension HTTPFrameReader {
    public mutating func body(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {}
    public mutating func messageEnd() {}
}

/// Where one direction of an HTTP/1.x connection is — in a header block, a body (by
/// length, by chunks, until the connection closes), or past where it can be read — as its
/// bytes pass. The one HTTP/1 framer: the application layer's parser builds messages on it,
/// the rewriter finds the header blocks it edits with it. Bodies are never copied here.
///
/// Lines may end in CRLF or a bare LF and blank lines before a message are skipped, as
/// libhtp reads them (so the IDS sees the messages Suricata sees). Bounded: a header block
/// over `headerLimit`, or a chunk-size line over 1 KiB, stops the direction (counted in
/// `refused`).
public struct HTTPFramer {
    public enum Phase: Equatable, Sendable {
        case headers
        case body(remaining: UInt64)
        case chunkSize
        /// Chunk data and its line end.
        case chunkData(remaining: UInt64)
        case chunkDataEnd
        case trailers
        case untilClose
        /// Not read further: a tunnel, a refused head, or a stream that stopped looking like HTTP.
        case stopped
    }

    public private(set) var phase = Phase.headers
    /// The stream offset reading continues from (a header block's start while it is incomplete).
    public private(set) var position: UInt64 = 0
    /// The largest header block held back while incomplete.
    public let headerLimit: Int
    /// Header blocks or chunk lines given up on (too long, malformed).
    public private(set) var refused = 0

    public init(headerLimit: Int = 32 * 1024) { self.headerLimit = headerLimit }

    /// Reads `bytes` (stream offset `offset`), telling `reader` what they hold. Returns
    /// where to hold back from — an incomplete header block or chunk-size line, to be
    /// presented again with what follows — or nil when every byte was read. `final`: no
    /// more bytes follow (nothing is held back).
    public mutating func read<Reader: HTTPFrameReader>(_ bytes: UnsafeRawBufferPointer, offset: UInt64, final: Bool,
                                                       into reader: inout Reader) -> Int? {
        var index = Int(truncatingIfNeeded: position &- offset)
        guard index >= 0, index <= bytes.count else {
            // Out of step (bytes this framer did not see): stop interpreting.
            phase = .stopped
            position = offset &+ UInt64(bytes.count)
            return nil
        }
        defer { position = offset &+ UInt64(index) }
        while index < bytes.count {
            switch phase {
            case .headers:
                guard let end = Self.headEnd(bytes, from: index) else {
                    if final || bytes.count - index > headerLimit {
                        if !final { refused += 1 }
                        phase = final ? .headers : .stopped
                        index = bytes.count
                        return nil
                    }
                    return index
                }
                let block = index..<end
                index = end
                switch reader.headerBlock(bytes, block) {
                case .none: reader.messageEnd()
                case let .length(count):
                    if count == 0 { reader.messageEnd() } else { phase = .body(remaining: count) }
                case .chunked: phase = .chunkSize
                case .untilClose: phase = .untilClose
                case .stop: phase = .stopped
                }
            case let .body(remaining):
                let take = Int(min(remaining, UInt64(bytes.count - index)))
                reader.body(bytes, index..<(index + take))
                index += take
                if UInt64(take) == remaining {
                    phase = .headers
                    reader.messageEnd()
                } else {
                    phase = .body(remaining: remaining - UInt64(take))
                }
            case .chunkSize, .trailers, .chunkDataEnd:
                guard let newline = Self.firstLineFeed(bytes, from: index) else {
                    if final || bytes.count - index > 1024 {
                        if !final { refused += 1 }
                        phase = .stopped
                        index = bytes.count
                        return nil
                    }
                    return index
                }
                let lineEnd = newline > index && bytes[newline - 1] == 13 ? newline - 1 : newline
                switch phase {
                case .trailers:
                    // Trailer lines until an empty one ends the message.
                    if lineEnd == index {
                        phase = .headers
                        reader.messageEnd()
                    }
                case .chunkDataEnd:
                    // The line end after a chunk's data (anything else there is tolerated).
                    phase = .chunkSize
                default:
                    guard let size = Self.chunkSize(bytes, index..<lineEnd) else {
                        refused += 1
                        phase = .stopped
                        index = bytes.count
                        return nil
                    }
                    phase = size == 0 ? .trailers : .chunkData(remaining: size)
                }
                index = newline + 1
            case let .chunkData(remaining):
                let take = Int(min(remaining, UInt64(bytes.count - index)))
                reader.body(bytes, index..<(index + take))
                index += take
                phase = UInt64(take) == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - UInt64(take))
            case .untilClose:
                reader.body(bytes, index..<bytes.count)
                index = bytes.count
            case .stopped:
                index = bytes.count
            }
        }
        return nil
    }

    /// The connection closed: a message whose body was being read (until close, or cut
    /// short) ends here. Whether one did.
    public mutating func finish<Reader: HTTPFrameReader>(into reader: inout Reader) -> Bool {
        switch phase {
        case .body, .chunkSize, .chunkData, .chunkDataEnd, .trailers, .untilClose:
            phase = .headers
            reader.messageEnd()
            return true
        case .headers, .stopped:
            return false
        }
    }

    /// The index just past the blank line that ends the header block starting at `start`
    /// (blank lines before it skipped; lines end in CRLF or LF), if it is there.
    public static func headEnd(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var index = start
        while index < bytes.count, bytes[index] == 13 || bytes[index] == 10 { index += 1 }
        var lineStart = index
        while index < bytes.count {
            if bytes[index] == 10 {
                let line = index - lineStart
                if line == 0 || (line == 1 && bytes[lineStart] == 13) { return index + 1 }
                lineStart = index + 1
            }
            index += 1
        }
        return nil
    }

    static func firstLineFeed(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var index = start
        while index < bytes.count {
            if bytes[index] == 10 { return index }
            index += 1
        }
        return nil
    }

    /// A chunk-size line's hexadecimal size (extensions after ';' and trailing blanks ignored).
    public static func chunkSize(_ bytes: UnsafeRawBufferPointer, _ line: Range<Int>) -> UInt64? {
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

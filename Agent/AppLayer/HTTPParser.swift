/// One HTTP/1.x request or response as parsed from a stream.
public struct HTTPMessage {
    /// The start line without its line end (`GET /a HTTP/1.1`, `HTTP/1.1 200 OK`).
    public var startLine: [UInt8] = []
    /// The three words of the start line (method, URI, protocol / protocol, code, reason).
    public var first: [UInt8] = [], second: [UInt8] = [], third: [UInt8] = []
    public var headers: [(name: [UInt8], value: [UInt8])] = []
    /// Start line, headers and the blank line, as sent.
    public var head: [UInt8] = []
    /// The header block as sent (after the start line, through the blank line).
    public var rawHeaders: [UInt8] = []
    /// The body, de-chunked, up to the body limit.
    public var body: [UInt8] = []
    public var bodyTruncated = false

    /// The first header named `name` (ASCII, case-insensitive); nothing allocated.
    public func header(_ name: StaticString) -> [UInt8]? {
        let count = name.utf8CodeUnitCount
        let wanted = name.utf8Start
        for header in headers where header.name.count == count {
            var same = true
            for index in 0..<count where header.name[index] | 0x20 != wanted[index] | 0x20 {
                same = false
                break
            }
            if same { return header.value }
        }
        return nil
    }
}

/// Parses one direction of an HTTP/1.x connection from its reassembled bytes into
/// messages, on the shared `HTTPFramer` (Content-Length, chunked and — responses —
/// read-until-close bodies, pipelining, the bodiless responses: 1xx, 204, 304, to HEAD; a
/// tunnel after `CONNECT` or `101` is not read). Bounded: a header block over
/// `headerLimit` ends parsing of the direction; bodies are kept up to `bodyLimit`.
public struct HTTPParser {
    public static let headerLimit = 32 * 1024
    public var isRequest: Bool { builder.isRequest }
    public var bodyLimit: Int { builder.bodyLimit }
    /// Whether bodies are kept at all (no rule reads them: they are only skipped).
    public var keepsBodies: Bool { builder.keepsBodies }

    private var framer = HTTPFramer(headerLimit: HTTPParser.headerLimit)
    private var builder: MessageBuilder
    /// Bytes the framer held back (an incomplete head or chunk line) and where they start.
    private var held: [UInt8] = []
    private var heldOffset: UInt64 = 0
    /// The stream offset of the next byte fed.
    private var offset: UInt64 = 0

    /// Responses: the request methods still waiting for their response (HEAD has no body,
    /// CONNECT may open a tunnel).
    public var pendingMethods: [[UInt8]] {
        get { builder.pendingMethods }
        _modify { yield &builder.pendingMethods }
    }
    /// Heads and chunk lines that could not be read (the direction is not parsed further).
    public var malformed: Int { builder.malformed + framer.refused }

    public init(isRequest: Bool, bodyLimit: Int = 100 * 1024, keepsBodies: Bool = true) {
        builder = MessageBuilder(isRequest: isRequest, bodyLimit: bodyLimit, keepsBodies: keepsBodies)
    }

    /// Feeds the next bytes; returns the messages they complete.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [HTTPMessage] {
        if held.isEmpty {
            if let hold = framer.read(bytes, offset: offset, final: false, into: &builder) {
                held.append(contentsOf: bytes[hold...])
                heldOffset = offset &+ UInt64(hold)
            }
        } else {
            held.append(contentsOf: bytes)
            let pending = held
            let hold = pending.withUnsafeBytes { framer.read($0, offset: heldOffset, final: false, into: &builder) }
            if let hold {
                held.removeFirst(hold)
                heldOffset &+= UInt64(hold)
            } else {
                held.removeAll(keepingCapacity: true)
            }
        }
        offset &+= UInt64(bytes.count)
        return builder.takeDone()
    }

    /// The connection closed: a read-until-close body (or a partial message) ends here.
    public mutating func finish() -> [HTTPMessage] {
        held.removeAll()
        _ = framer.finish(into: &builder)
        return builder.takeDone()
    }

    static let httpPrefix: [UInt8] = Array("HTTP/".utf8)

    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 || last == 0x0D { slice = slice.dropLast() }
        return slice
    }
}

/// The messages the framer's pieces make: heads parsed, bodies kept up to the limit.
private struct MessageBuilder: HTTPFrameReader {
    let isRequest: Bool
    let bodyLimit: Int
    let keepsBodies: Bool
    var message = HTTPMessage()
    var done: [HTTPMessage] = []
    var pendingMethods: [[UInt8]] = []
    var malformed = 0

    init(isRequest: Bool, bodyLimit: Int, keepsBodies: Bool) {
        self.isRequest = isRequest
        self.bodyLimit = bodyLimit
        self.keepsBodies = keepsBodies
    }

    mutating func takeDone() -> [HTTPMessage] {
        guard !done.isEmpty else { return [] }
        defer { done = [] }
        return done
    }

    mutating func headerBlock(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTPBodyFraming {
        guard parseHead(Array(bytes[range])) else {
            malformed += 1
            message = HTTPMessage()
            return .stop
        }
        return framing()
    }

    mutating func body(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) {
        guard keepsBodies, !range.isEmpty else { return }
        let room = bodyLimit - message.body.count
        if room <= 0 {
            message.bodyTruncated = true
            return
        }
        if range.count > room { message.bodyTruncated = true }
        message.body.append(contentsOf: bytes[range.lowerBound..<(range.lowerBound + min(room, range.count))])
    }

    mutating func messageEnd() {
        done.append(message)
        message = HTTPMessage()
    }

    private mutating func parseHead(_ head: [UInt8]) -> Bool {
        var start = head.startIndex
        while start < head.count, head[start] == 0x0D || head[start] == 0x0A { start += 1 }
        // The start line.
        guard let firstEnd = head[start...].firstIndex(of: 0x0A) else { return false }
        var startLine = head[start..<firstEnd]
        if startLine.last == 0x0D { startLine = startLine.dropLast() }
        guard !startLine.isEmpty else { return false }
        message.head = start == 0 ? head : Array(head[start...])
        message.startLine = Array(startLine)
        let words = startLine.split(separator: 0x20, maxSplits: 2, omittingEmptySubsequences: true)
        guard words.count >= 2 || (isRequest && words.count == 1) else { return false }
        message.first = Array(words[0])
        message.second = words.count > 1 ? Array(words[1]) : []
        message.third = words.count > 2 ? Array(words[2]) : []
        if !isRequest, !message.first.starts(with: HTTPParser.httpPrefix) { return false }
        message.rawHeaders = Array(head[(firstEnd + 1)...])
        // The header lines, read in place.
        message.headers.reserveCapacity(12)
        var lineStart = firstEnd + 1
        while lineStart < head.count, let lineEnd = head[lineStart...].firstIndex(of: 0x0A) {
            var line = head[lineStart..<lineEnd]
            lineStart = lineEnd + 1
            if line.last == 0x0D { line = line.dropLast() }
            guard let first = line.first else { continue }
            if first == 0x20 || first == 0x09, !message.headers.isEmpty {
                // A folded continuation line.
                message.headers[message.headers.count - 1].value.append(0x20)
                message.headers[message.headers.count - 1].value.append(contentsOf: HTTPParser.trimmed(line))
                continue
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            message.headers.append((Array(HTTPParser.trimmed(line[..<colon])), Array(HTTPParser.trimmed(line[(colon + 1)...]))))
        }
        return true
    }

    /// How the body after the head just parsed is framed.
    private mutating func framing() -> HTTPBodyFraming {
        let chunked = message.header("Transfer-Encoding").map { String(decoding: $0, as: UTF8.self).lowercased().contains("chunked") } ?? false
        let length = message.header("Content-Length").flatMap { UInt64(String(decoding: $0, as: UTF8.self)) }
        if isRequest {
            // A request without length has no body; CONNECT's tunnel is the response's to open.
            return chunked ? .chunked : .length(length ?? 0)
        }
        let status = Int(String(decoding: message.second, as: UTF8.self)) ?? 0
        // An informational response (not 101) answers no request by itself.
        let method = (status / 100 == 1 && status != 101) || pendingMethods.isEmpty ? nil : pendingMethods.removeFirst()
        return .response(status: status, toHead: method == Self.head, toConnect: method == Self.connect, chunked: chunked,
                         contentLength: length)
    }

    static let head: [UInt8] = Array("HEAD".utf8)
    static let connect: [UInt8] = Array("CONNECT".utf8)
}

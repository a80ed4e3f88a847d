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

/// Parses one direction of an HTTP/1.x connection from its reassembled bytes: messages
/// with Content-Length, chunked or (responses) read-until-close bodies, pipelining, the
/// bodiless responses (1xx, 204, 304, to HEAD). Bounded: a header block over
/// `headerLimit` ends parsing of the direction; bodies are kept up to `bodyLimit`.
public struct HTTPParser {
    public let isRequest: Bool
    public static let headerLimit = 32 * 1024
    public let bodyLimit: Int
    /// Whether bodies are kept at all (no rule reads them: they are only skipped).
    public let keepsBodies: Bool

    enum State {
        case head
        case body(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkTrailer
        case untilClose
        case failed
    }

    private var state = State.head
    private var pending: [UInt8] = []
    private var message = HTTPMessage()
    /// Responses: the request methods still waiting for their response (HEAD has no body).
    public var pendingMethods: [[UInt8]] = []
    public private(set) var malformed = 0

    public init(isRequest: Bool, bodyLimit: Int = 100 * 1024, keepsBodies: Bool = true) {
        self.isRequest = isRequest
        self.bodyLimit = bodyLimit
        self.keepsBodies = keepsBodies
    }

    /// Feeds the next bytes; returns the messages they complete.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> [HTTPMessage] {
        var done: [HTTPMessage] = []
        var input = bytes[...]
        while !input.isEmpty {
            switch state {
            case .failed:
                return done
            case .head:
                // Usually the whole head is in this input: parsed from it, nothing pending.
                if pending.isEmpty, let end = Self.headEnd(input) {
                    let head = Array(input[..<end])
                    input = input[end...]
                    guard completeHead(head, into: &done) else { return done }
                    continue
                }
                // Look for the blank line in what is pending plus this input.
                let before = pending.count
                pending += input
                if let end = Self.headEnd(pending[...]) {
                    input = input.dropFirst(end - before)
                    let head = Array(pending[..<end])
                    pending.removeAll(keepingCapacity: true)
                    guard completeHead(head, into: &done) else { return done }
                } else {
                    input = input.dropFirst(input.count)
                    if pending.count > Self.headerLimit {
                        malformed += 1
                        state = .failed
                        pending = []
                    }
                }
            case let .body(remaining):
                let take = min(remaining, input.count)
                keepBody(input.prefix(take))
                input = input.dropFirst(take)
                if take == remaining {
                    done.append(message)
                    message = HTTPMessage()
                    state = .head
                } else {
                    state = .body(remaining: remaining - take)
                }
            case .untilClose:
                keepBody(input)
                input = input.dropFirst(input.count)
            case .chunkSize, .chunkTrailer:
                guard let newline = input.firstIndex(of: 0x0A) else {
                    pending += input
                    input = input.dropFirst(input.count)
                    if pending.count > 1024 { malformed += 1; state = .failed }
                    continue
                }
                var line = pending
                line += input[..<newline]
                input = input[(newline + 1)...]
                pending.removeAll(keepingCapacity: true)
                if line.last == 0x0D { line.removeLast() }
                if case .chunkTrailer = state {
                    if line.isEmpty {
                        done.append(message)
                        message = HTTPMessage()
                        state = .head
                    }
                    continue
                }
                let digits = line.prefix { $0 != 0x3B && $0 != 0x0D && $0 != 0x20 }
                guard let size = Int(String(decoding: digits, as: UTF8.self), radix: 16), size >= 0 else {
                    malformed += 1
                    state = .failed
                    continue
                }
                state = size == 0 ? .chunkTrailer : .chunkData(remaining: size + 2)
            case let .chunkData(remaining):
                let take = min(remaining, input.count)
                // The chunk's own CRLF (its last two bytes) is not body.
                let dataPart = max(0, min(take, remaining - 2))
                keepBody(input.prefix(dataPart))
                input = input.dropFirst(take)
                state = take == remaining ? .chunkSize : .chunkData(remaining: remaining - take)
            }
        }
        return done
    }

    /// Parses a message head; a message without body is complete at once. False when the
    /// head is malformed (the direction is not parsed further).
    private mutating func completeHead(_ head: [UInt8], into done: inout [HTTPMessage]) -> Bool {
        guard parseHead(head) else {
            malformed += 1
            state = .failed
            return false
        }
        if let next = bodyState() {
            state = next
        } else {
            done.append(message)
            message = HTTPMessage()
        }
        return true
    }

    /// The connection closed: a read-until-close body (or a partial message) ends here.
    public mutating func finish() -> [HTTPMessage] {
        switch state {
        case .untilClose, .body, .chunkData, .chunkSize, .chunkTrailer:
            state = .head
            let last = message
            message = HTTPMessage()
            return [last]
        default:
            return []
        }
    }

    private mutating func keepBody<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        guard keepsBodies else { return }
        let room = bodyLimit - message.body.count
        if room <= 0 {
            if !bytes.isEmpty { message.bodyTruncated = true }
            return
        }
        if bytes.count > room { message.bodyTruncated = true }
        message.body += bytes.prefix(room)
    }

    /// The index just past the blank line ending the head, if it is there.
    static func headEnd<Bytes: Collection>(_ bytes: Bytes) -> Bytes.Index? where Bytes.Element == UInt8, Bytes.Index == Int {
        var index = bytes.startIndex
        // Blank lines before a message are skipped, as libhtp does.
        while index < bytes.endIndex, bytes[index] == 0x0D || bytes[index] == 0x0A { index += 1 }
        var lineStart = index
        while index < bytes.endIndex {
            if bytes[index] == 0x0A {
                let line = index - lineStart
                if line == 0 || (line == 1 && bytes[lineStart] == 0x0D) { return index + 1 }
                lineStart = index + 1
            }
            index += 1
        }
        return nil
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
        if !isRequest, !message.first.starts(with: Self.httpPrefix) { return false }
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
                message.headers[message.headers.count - 1].value.append(contentsOf: Self.trimmed(line))
                continue
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { continue }
            message.headers.append((Array(Self.trimmed(line[..<colon])), Array(Self.trimmed(line[(colon + 1)...]))))
        }
        return true
    }

    static let httpPrefix: [UInt8] = Array("HTTP/".utf8)

    /// What follows the head: a body to read, or nil when the message is complete.
    private mutating func bodyState() -> State? {
        if !isRequest {
            let code = Int(String(decoding: message.second, as: UTF8.self)) ?? 0
            let method = pendingMethods.isEmpty ? nil : pendingMethods.removeFirst()
            if code / 100 == 1 || code == 204 || code == 304 || method == Array("HEAD".utf8) { return nil }
        }
        if let encoding = message.header("Transfer-Encoding"),
           String(decoding: encoding, as: UTF8.self).lowercased().contains("chunked") {
            return .chunkSize
        }
        if let length = message.header("Content-Length"), let count = Int(String(decoding: length, as: UTF8.self)), count >= 0 {
            return count == 0 ? nil : .body(remaining: count)
        }
        return isRequest ? nil : .untilClose
    }

    static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var slice = bytes
        while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
        while let last = slice.last, last == 0x20 || last == 0x09 || last == 0x0D { slice = slice.dropLast() }
        return slice
    }
}

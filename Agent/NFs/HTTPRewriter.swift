import MBoxAppLayer
import MBoxEvents
import MBoxNFRunner
import MBoxPacket

/// Rewrites HTTP/1.x header blocks in the Split Proxy's byte streams: adds
/// `X-Forwarded-For` with the client's address to requests (appended to one already
/// there), strips named headers, adds fixed ones, and rewrites a `Location` prefix in
/// responses. Only header blocks change; each message's body passes untouched, so
/// `Content-Length` and chunked framing stay valid. A header block split across segments
/// is held back until whole (up to 16 KiB; a longer one passes unread).
public final class HTTPRewriter: NetworkFunction {
    public struct Rules: Sendable {
        public var forwardedFor = true
        /// Lower-cased header names to remove.
        public var stripRequest: Set<String> = []
        public var stripResponse: Set<String> = []
        /// Header lines to add ("Name: value").
        public var addRequest: [String] = []
        public var addResponse: [String] = []
        /// A `Location` value starting with `from` gets `to` in its place.
        public var location: (from: String, to: String)?
        public init() {}
    }

    public let rules: Rules
    /// Header blocks rewritten, per direction.
    public private(set) var requestsRewritten: UInt64 = 0
    public private(set) var responsesRewritten: UInt64 = 0
    private var context: NFContext!
    private var toServer: [HTTPFramer] = []
    private var toClient: [HTTPFramer] = []
    /// The longest header block held back while incomplete; a longer one stops the direction.
    static let headerLimit = 16 * 1024
    /// Per flow: requests whose responses have no body (HEAD) or open a tunnel (CONNECT),
    /// two bits each, oldest lowest; and how many are queued.
    private var pending: [UInt64] = []
    private var pendingCount: [UInt8] = []

    public init(rules: Rules) { self.rules = rules }

    public func attach(_ context: NFContext) {
        self.context = context
        toServer = Array(repeating: HTTPFramer(headerLimit: Self.headerLimit), count: context.capacity)
        toClient = toServer
        pending = Array(repeating: 0, count: context.capacity)
        pendingCount = Array(repeating: 0, count: context.capacity)
    }

    public func flowStarted(slot: Int32) {
        let index = Int(slot)
        toServer[index] = HTTPFramer(headerLimit: Self.headerLimit)
        toClient[index] = HTTPFramer(headerLimit: Self.headerLimit)
        pending[index] = 0
        pendingCount[index] = 0
    }

    public func handle(_ event: Event) {
        guard event.type == .byteStream, let base = event.data else { return }
        let bytes = UnsafeRawBufferPointer(start: base, count: event.dataLength)
        let slot = Int(event.slot)
        let final = event.detail.value == 1
        var reader = BlockReader(rewriter: self, event: event)
        let hold = event.cause == .client
            ? toServer[slot].read(bytes, offset: event.dataOffset, final: final, into: &reader)
            : toClient[slot].read(bytes, offset: event.dataOffset, final: final, into: &reader)
        if let hold { context.holdStream(event, from: hold) }
    }

    /// The framer's reader for one chunk: each header block found goes to `request` or `response`.
    private struct BlockReader: HTTPFrameReader {
        let rewriter: HTTPRewriter
        let event: Event

        mutating func headerBlock(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTPBodyFraming {
            // Only CRLF-ended blocks are edited (lines ending in a bare LF would be
            // rewritten wrongly): such a stream is not read further.
            guard HeaderLines.endsInCRLF(bytes, range) else { return .stop }
            return event.cause == .client ? rewriter.request(range, bytes, event) : rewriter.response(range, bytes, event)
        }
    }

    // MARK: Requests

    private func request(_ block: Range<Int>, _ bytes: UnsafeRawBufferPointer, _ event: Event) -> HTTPBodyFraming {
        let lines = HeaderLines(bytes, block)
        let method = lines.startLine.prefix { $0 != 0x20 }
        let kind: UInt64 = method.elementsEqual("HEAD".utf8) ? 1 : method.elementsEqual("CONNECT".utf8) ? 2 : 0
        enqueue(kind, slot: Int(event.slot))
        var appended: [UInt8] = []
        var sawForwarded = false
        var changed = false
        for header in lines.headers {
            let name = header.lowercasedName(bytes)
            if rules.stripRequest.contains(name) {
                context.replaceStream(event, range: header.line, with: [])
                changed = true
            } else if rules.forwardedFor, name == "x-forwarded-for", !sawForwarded {
                sawForwarded = true
                context.replaceStream(event, range: header.valueEnd..<header.valueEnd, with: Array(", \(client(event))".utf8))
                changed = true
            }
        }
        if rules.forwardedFor, !sawForwarded { appended += Array("X-Forwarded-For: \(client(event))\r\n".utf8) }
        for line in rules.addRequest { appended += Array("\(line)\r\n".utf8) }
        if !appended.isEmpty {
            context.replaceStream(event, range: (block.upperBound - 2)..<(block.upperBound - 2), with: appended)
            changed = true
        }
        if changed { requestsRewritten &+= 1 }
        return .request(isConnect: kind == 2, chunked: lines.isChunked, contentLength: lines.contentLength)
    }

    private func client(_ event: Event) -> String { "\(context.flowKey(of: event).client)" }

    // MARK: Responses

    private func response(_ block: Range<Int>, _ bytes: UnsafeRawBufferPointer, _ event: Event) -> HTTPBodyFraming {
        let lines = HeaderLines(bytes, block)
        let status = lines.status
        var appended: [UInt8] = []
        var changed = false
        for header in lines.headers {
            let name = header.lowercasedName(bytes)
            if rules.stripResponse.contains(name) {
                context.replaceStream(event, range: header.line, with: [])
                changed = true
            } else if name == "location", let (from, to) = rules.location {
                let value = UnsafeRawBufferPointer(rebasing: bytes[header.valueStart..<header.valueEnd])
                if value.starts(with: from.utf8) {
                    context.replaceStream(event, range: header.valueStart..<(header.valueStart + from.utf8.count), with: Array(to.utf8))
                    changed = true
                }
            }
        }
        for line in rules.addResponse { appended += Array("\(line)\r\n".utf8) }
        if !appended.isEmpty {
            context.replaceStream(event, range: (block.upperBound - 2)..<(block.upperBound - 2), with: appended)
            changed = true
        }
        if changed { responsesRewritten &+= 1 }
        // 1xx (but 101) precede the final response to the same request.
        if (100..<200).contains(status), status != 101 { return .none }
        let kind = dequeue(slot: Int(event.slot))
        return .response(status: status, toHead: kind == 1, toConnect: kind == 2, chunked: lines.isChunked,
                         contentLength: lines.contentLength)
    }

    private func enqueue(_ kind: UInt64, slot: Int) {
        guard pendingCount[slot] < 32 else { return }
        pending[slot] |= kind << (2 * UInt64(pendingCount[slot]))
        pendingCount[slot] += 1
    }

    private func dequeue(slot: Int) -> UInt64 {
        guard pendingCount[slot] > 0 else { return 0 }
        let kind = pending[slot] & 3
        pending[slot] >>= 2
        pendingCount[slot] -= 1
        return kind
    }
}

/// The lines of an HTTP header block (CRLF-separated; the block ends with an empty line).
struct HeaderLines {
    /// Whether the block at `range` ends in CRLF CRLF (the lines this reader reads).
    static func endsInCRLF(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        range.count >= 4 && bytes[range.upperBound - 4] == 13 && bytes[range.upperBound - 3] == 10 && bytes[range.upperBound - 2] == 13
    }

    /// The end of the CRLF-ended header block at the start of `bytes`, if it is whole there.
    static func blockEnd(_ bytes: UnsafeRawBufferPointer) -> Int? {
        guard let end = HTTPFramer.headEnd(bytes, from: 0), endsInCRLF(bytes, 0..<end) else { return nil }
        return end
    }

    struct Header {
        /// The whole line with its CRLF.
        var line: Range<Int>
        var nameEnd: Int
        var valueStart: Int
        var valueEnd: Int

        func lowercasedName(_ bytes: UnsafeRawBufferPointer) -> String {
            String(decoding: bytes[line.lowerBound..<nameEnd].map { $0 | (($0 >= 0x41 && $0 <= 0x5A) ? 0x20 : 0) }, as: UTF8.self)
        }
    }

    var startLine: UnsafeRawBufferPointer
    var headers: [Header] = []
    var contentLength: UInt64?
    var isChunked = false
    /// A response's status code (0 for a request).
    var status = 0

    init(_ bytes: UnsafeRawBufferPointer, _ block: Range<Int>) {
        var lineStart = block.lowerBound
        var first = true
        startLine = UnsafeRawBufferPointer(start: nil, count: 0)
        while lineStart < block.upperBound - 2 {
            var lineEnd = lineStart
            while lineEnd + 1 < block.upperBound, !(bytes[lineEnd] == 13 && bytes[lineEnd + 1] == 10) { lineEnd += 1 }
            if first {
                startLine = UnsafeRawBufferPointer(rebasing: bytes[lineStart..<lineEnd])
                if startLine.starts(with: "HTTP/".utf8), startLine.count >= 12 {
                    status = Int(String(decoding: startLine[9..<12], as: UTF8.self)) ?? 0
                }
                first = false
            } else if let colon = (lineStart..<lineEnd).first(where: { bytes[$0] == 0x3A }) {
                var valueStart = colon + 1
                while valueStart < lineEnd, bytes[valueStart] == 0x20 || bytes[valueStart] == 0x09 { valueStart += 1 }
                var valueEnd = lineEnd
                while valueEnd > valueStart, bytes[valueEnd - 1] == 0x20 || bytes[valueEnd - 1] == 0x09 { valueEnd -= 1 }
                let header = Header(line: lineStart..<(lineEnd + 2), nameEnd: colon, valueStart: valueStart, valueEnd: valueEnd)
                headers.append(header)
                let name = header.lowercasedName(bytes)
                let value = String(decoding: bytes[valueStart..<valueEnd], as: UTF8.self)
                if name == "content-length" { contentLength = UInt64(value) }
                if name == "transfer-encoding", value.lowercased().split(separator: ",").last.map({ String($0.filter { $0 != " " && $0 != "\t" }) }) == "chunked" {
                    isChunked = true
                }
            }
            lineStart = lineEnd + 2
        }
    }
}

// MARK: - Its kind: parameters read from the chain file, beside the NF.

extension HTTPRewriter {
    /// The HTTP header rewriter: edits header blocks in the TCP Split Proxy's byte streams.
    public static let kind = NFKind(type: "HTTP_Rewriter", action: .mayModify, publishes: [],
                                     parameters: ["forwarded_for", "strip_request", "strip_response", "add_request",
                                                  "add_response", "location"]) { parameters, _, _ in
        var rules = HTTPRewriter.Rules()
        rules.forwardedFor = parameters.bool("forwarded_for", default: true)
        func names(_ key: String) -> Set<String> {
            guard let (items, location) = parameters.list(key) else { return [] }
            var names: Set<String> = []
            for item in items {
                guard case let .string(name) = item.asString, !name.isEmpty, !name.contains(":"), !name.contains(" ") else {
                    parameters.error(location, "'\(key)' lists header names"); continue
                }
                names.insert(name.lowercased())
            }
            return names
        }
        func lines(_ key: String) -> [String] {
            guard let (items, location) = parameters.map(key) else { return [] }
            var lines: [String] = []
            for (name, value) in items {
                guard case let .string(text) = value.asString, !name.contains(":"), !name.contains(" "),
                      !text.contains("\r"), !text.contains("\n") else {
                    parameters.error(location, "'\(key)' maps header names to one-line values"); continue
                }
                lines.append("\(name): \(text)")
            }
            return lines
        }
        rules.stripRequest = names("strip_request")
        rules.stripResponse = names("strip_response")
        rules.addRequest = lines("add_request")
        rules.addResponse = lines("add_response")
        if let (items, location) = parameters.map("location") {
            let fields = Dictionary(items.map { ($0.0, $0.1) }, uniquingKeysWith: { first, _ in first })
            if case let .string(from)? = fields["from"]?.asString, case let .string(to)? = fields["to"]?.asString, !from.isEmpty,
               fields.count == 2 {
                rules.location = (from, to)
            } else {
                parameters.error(location, "'location' is {from: PREFIX, to: REPLACEMENT}")
            }
        }
        let frozen = rules
        return NFPreparation { HTTPRewriter(rules: frozen) }
    }
}

import MBoxAppLayer
@testable import MBoxNFs
import MBoxTCPSplitProxy
import Testing

/// The HTTP/1.x framer the rewriter (and the application layer's parser) reads byte streams with: wherever the stream is cut
/// into chunks (a header block split across them is held back and comes again), it must
/// find each message's header block and nothing else — bodies by Content-Length, chunked
/// bodies with extensions and trailers, messages without bodies.
struct HTTPFramingTests {
    static let messages: [String] = [
        "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nServer: x\r\n\r\nhello\r\n\r\nbody",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nab\r\nc\r\n10\r\n0123456789abcdef\r\n0\r\nTrailer: t\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nend",
    ]

    /// Records where header blocks start and frames them as the rewriter does.
    struct StartRecorder: HTTPFrameReader {
        var base = 0
        var starts: [Int] = []
        var ends = 0

        mutating func headerBlock(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> HTTPBodyFraming {
            starts.append(base + range.lowerBound)
            let lines = HeaderLines(bytes, range)
            return .response(status: lines.status, toHead: false, toConnect: false, chunked: lines.isChunked,
                             contentLength: lines.contentLength ?? 0)
        }

        mutating func messageEnd() { ends += 1 }
    }

    /// Header block starts (and messages ended) when the stream arrives `size` bytes at a time.
    static func blockStarts(_ stream: [UInt8], size: Int) -> (starts: [Int], ends: Int) {
        var framer = HTTPFramer(headerLimit: HTTPRewriter.headerLimit)
        var recorder = StartRecorder()
        var consumed = 0
        var end = 0
        while consumed < stream.count {
            end = min(max(end, consumed) + size, stream.count)
            recorder.base = consumed
            let hold = stream[consumed..<end].withUnsafeBytes { chunk in
                framer.read(chunk, offset: UInt64(consumed), final: end == stream.count, into: &recorder)
            }
            consumed += hold ?? (end - consumed)
        }
        return (recorder.starts, recorder.ends)
    }

    @Test("every header block is found, and only those, however the stream is cut")
    func framingSurvivesAnySplit() {
        let stream = Array(Self.messages.joined().utf8)
        var expected: [Int] = []
        var position = 0
        for message in Self.messages {
            expected.append(position)
            position += message.utf8.count
        }
        for size in 1...stream.count {
            let found = Self.blockStarts(stream, size: size)
            #expect(found.starts == expected, "cut every \(size) bytes")
            #expect(found.ends == Self.messages.count, "cut every \(size) bytes")
        }
    }

    @Test("a header block longer than the limit passes unread instead of being held forever")
    func oversizedHeaderGivesUp() {
        let huge = "HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: HTTPRewriter.headerLimit + 10)
        let stream = Array(huge.utf8)
        var framer = HTTPFramer(headerLimit: HTTPRewriter.headerLimit)
        var recorder = StartRecorder()
        let hold = stream.withUnsafeBytes { framer.read($0, offset: 0, final: false, into: &recorder) }
        #expect(hold == nil)
        #expect(framer.phase == .stopped && framer.refused == 1 && recorder.starts.isEmpty)
    }

    @Test("chunk sizes: hexadecimal, extensions ignored, junk and overflow refused")
    func chunkSizes() {
        func size(_ text: String) -> UInt64? {
            Array(text.utf8).withUnsafeBytes { HTTPFramer.chunkSize($0, 0..<$0.count) }
        }
        #expect(size("1a") == 26 && size("FF;name=value") == 255 && size("0") == 0)
        #expect(size("") == nil && size("xyz") == nil && size("-1") == nil && size("1234567890abcdef0") == nil)
    }

    @Test("stream edits: overlapping and out-of-range edits are refused, holds keep the earliest point")
    func streamEdits() {
        var edits = StreamEdits()
        edits.replace(chunk: 0, length: 100, range: 10..<20, with: Array("x".utf8))
        edits.replace(chunk: 0, length: 100, range: 15..<30, with: [])
        edits.replace(chunk: 0, length: 100, range: 90..<101, with: [])
        edits.replace(chunk: 0, length: 100, range: 12..<12, with: Array("y".utf8))
        edits.replace(chunk: 0, length: 100, range: 20..<20, with: Array("z".utf8))
        #expect(edits.edits[0].count == 2 && edits.refused == 3)
        edits.hold(chunk: 1, from: 40)
        edits.hold(chunk: 1, from: 30)
        #expect(edits.holds[1] == 30)
        edits.removeAll()
        #expect(edits.isEmpty)
    }
}

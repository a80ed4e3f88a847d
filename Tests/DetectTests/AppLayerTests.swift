import CZlib
@testable import MBoxAppLayer
import MBoxRules
import Testing

/// The HTTP parser on what generated traffic does not carry: compressed and chunked
/// bodies, pipelined requests, a decompression bomb.
@Suite("Application layer: HTTP bodies")
struct AppLayerTests {
    /// gzip (zlib's deflate with a gzip wrapper) of `data`.
    static func gzip(_ data: [UInt8]) -> [UInt8] {
        var stream = z_stream()
        _ = deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION,
                          Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(data.count))) + 64)
        var input = data
        input.withUnsafeMutableBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                stream.next_in = source.baseAddress
                stream.avail_in = UInt32(source.count)
                stream.next_out = target.baseAddress
                stream.avail_out = UInt32(target.count)
                _ = deflate(&stream, Z_FINISH)
            }
        }
        return Array(output.prefix(Int(stream.total_out)))
    }

    func transactions(_ request: [UInt8], _ response: [UInt8], bodyLimit: Int = 100 * 1024) -> [AppTransaction] {
        let flow = AppLayerFlow(serverPort: 80, bodyLimit: bodyLimit)
        var found = request.withUnsafeBytes { flow.feed($0, toServer: true) }
        found += response.withUnsafeBytes { flow.feed($0, toServer: false) }
        return found + flow.finish()
    }

    @Test("http.host: the port goes, an IPv6 literal stays; a Host starting with ':' (found by fuzzing: it crashed) is kept as it is",
          arguments: [("Example.COM:8080", "example.com"), ("[2001:db8::1]:80", "[2001:db8::1]"), ("[2001:db8::1]", "[2001:db8::1]"),
                      (":]x", ":]x"), (":", ""), ("a.b.:", "a.b")])
    func hostNormalised(raw: String, expected: String) {
        let request = Array("GET / HTTP/1.1\r\nHost: \(raw)\r\n\r\n".utf8)
        let found = transactions(request, [])
        #expect(found.first?.buffers[.httpHost].first.map { String(decoding: $0, as: UTF8.self) } ?? "" == expected, "\(found)")
    }

    @Test("a gzip body is inspected decompressed, also when chunked")
    func gzipBody() {
        let text = Array(String(repeating: "lorem ipsum ", count: 200).utf8) + Array("the marker".utf8)
        let compressed = Self.gzip(text)
        #expect(compressed.count < text.count / 4)
        let request = Array("GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n".utf8)
        let plain = Array("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: \(compressed.count)\r\n\r\n".utf8) + compressed
        let response = transactions(request, plain).first { !$0.toServer }
        #expect(response?.buffers[.fileData].first == text)
        #expect(response?.buffers[.httpResponseBody].first == text)

        // The same body in two chunks.
        let half = compressed.count / 2
        let chunked = Array("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
            + Array(String(half, radix: 16).utf8) + [13, 10] + Array(compressed[..<half]) + [13, 10]
            + Array(String(compressed.count - half, radix: 16).utf8) + [13, 10] + Array(compressed[half...]) + [13, 10]
            + Array("0\r\n\r\n".utf8)
        #expect(transactions(request, chunked).first { !$0.toServer }?.buffers[.fileData].first == text)
    }

    @Test("a decompression bomb stops at the body limit; a body that is not gzip stays as sent")
    func limits() {
        let zeros = Self.gzip([UInt8](repeating: 0, count: 8 << 20))
        let request = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        let bomb = Array("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: \(zeros.count)\r\n\r\n".utf8) + zeros
        #expect(transactions(request, bomb, bodyLimit: 4096).first { !$0.toServer }?.buffers[.fileData].first?.count == 4096)
        let liar = Array("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello".utf8)
        #expect(transactions(request, liar).first { !$0.toServer }?.buffers[.fileData].first == Array("hello".utf8))
    }

    @Test("pipelined requests pair with their responses in order")
    func pipelining() {
        let requests = Array("GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        let responses = Array("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".utf8)
        let found = transactions(requests, responses).filter { !$0.toServer }
        #expect(found.map { $0.buffers[.httpURI].first.map { String(decoding: $0, as: UTF8.self) } } == ["/one", "/two"])
        #expect(found.map { $0.buffers[.httpStatCode].first.map { String(decoding: $0, as: UTF8.self) } } == ["200", "404"])
    }
}

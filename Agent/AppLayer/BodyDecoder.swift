import CZlib

/// HTTP bodies as sent with `Content-Encoding: gzip` or `deflate`, decompressed for
/// inspection as Suricata does, never past `limit` bytes (a decompression bomb stops at the
/// limit). What decompresses before damaged or missing bytes is kept.
enum BodyDecoder {
    enum Encoding { case gzip, deflate }

    /// The encoding a `Content-Encoding` value names, if one this decodes.
    static func encoding(_ header: [UInt8]?) -> Encoding? {
        guard let header else { return nil }
        let value = String(decoding: header, as: UTF8.self).lowercased()
        if value.contains("gzip") { return .gzip }
        if value.contains("deflate") { return .deflate }
        return nil
    }

    static func decode(_ body: [UInt8], _ encoding: Encoding, limit: Int) -> [UInt8]? {
        // gzip or zlib headers are told apart by zlib (32 + 15); deflate without the zlib
        // wrapper, which some servers send, is tried raw (-15).
        if let decoded = inflate(body, windowBits: 32 + 15, limit: limit) { return decoded }
        return encoding == .deflate ? inflate(body, windowBits: -15, limit: limit) : nil
    }

    private static func inflate(_ input: [UInt8], windowBits: Int32, limit: Int) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit2_(&stream, windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var output = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        var status: Int32 = Z_OK
        var input = input
        input.withUnsafeMutableBufferPointer { source in
            stream.next_in = source.baseAddress
            stream.avail_in = UInt32(source.count)
            while output.count < limit {
                status = chunk.withUnsafeMutableBufferPointer { buffer -> Int32 in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = UInt32(buffer.count)
                    return CZlib.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                output += chunk.prefix(min(produced, limit - output.count))
                if status != Z_OK || produced == 0 { break }
            }
        }
        // Nothing decoded at all means it was not this encoding.
        if output.isEmpty, status != Z_STREAM_END { return nil }
        return output
    }
}

/// `base64_decode[:bytes N][,offset N][,relative]` — decodes part of the buffer; the
/// `base64_data` sticky buffer inspects what it decoded.
enum Base64DecodeKeyword {
    static let keyword = RuleKeyword("base64_decode") { builder, _, value in
        var decode = Base64Decode()
        for option in OptionBuilder.parts(value) where !option.isEmpty {
            let words = option.split(separator: " ").map(String.init)
            switch words.first ?? "" {
            case "relative": decode.relative = true
            case "bytes" where words.count == 2 && Int(words[1]) != nil: decode.bytes = Int(words[1])!
            case "offset" where words.count == 2 && Int(words[1]) != nil: decode.offset = Int(words[1])!
            default: throw OptionError("base64_decode: unknown option '\(option)'")
            }
        }
        _ = builder.append(.base64Decode(decode))
    }
}

public struct Base64Decode: Sendable, Equatable {
    public var bytes: Int?
    public var offset: Int = 0
    public var relative = false

    private static let table: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8).enumerated() {
            table[Int(byte)] = UInt8(index)
        }
        return table
    }()

    /// RFC 4648 base64 as Suricata reads it: stops at the first byte that is not base64
    /// (padding ends it too). Appends to `output`.
    public static func decode(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) {
        var accumulator: UInt32 = 0, bits = 0
        for byte in input {
            let value = table[Int(byte)]
            if value == 0xFF { break }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
    }
}

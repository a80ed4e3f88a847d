import Crypto
import MBoxRules

/// Sticky-buffer transforms, applied in rule order before a buffer is inspected.
enum Transforms {
    static func apply(_ transforms: [BufferTransform], to input: [UInt8]) -> [UInt8] {
        var bytes = input
        for transform in transforms {
            switch transform {
            case .dotPrefix:
                bytes.insert(UInt8(ascii: "."), at: 0)
            case .stripWhitespace:
                bytes.removeAll { isSpace($0) }
            case .compressWhitespace:
                var result: [UInt8] = []
                result.reserveCapacity(bytes.count)
                for byte in bytes {
                    if isSpace(byte) {
                        if let last = result.last, isSpace(last) { continue }
                    }
                    result.append(byte)
                }
                bytes = result
            case .toLowercase:
                bytes = bytes.map(asciiLowercase)
            case .toUppercase:
                bytes = bytes.map { $0 >= 0x61 && $0 <= 0x7A ? $0 - 0x20 : $0 }
            case .headerLowercase:
                bytes = lowercaseHeaderNames(bytes)
            case .urlDecode:
                bytes = PercentDecoding.decode(bytes, plusIsSpace: true)
            case .toMD5:
                bytes = Array(Insecure.MD5.hash(data: bytes))
            case .toSHA1:
                bytes = Array(Insecure.SHA1.hash(data: bytes))
            case .toSHA256:
                bytes = Array(SHA256.hash(data: bytes))
            case .stripPseudoHeaders, .xor, .pcrexform:
                break  // refused by the parser
            }
        }
        return bytes
    }

    static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) }

    /// Lowercases each `Name:` at the start of a line.
    static func lowercaseHeaderNames(_ bytes: [UInt8]) -> [UInt8] {
        var result = bytes
        var inName = true
        for index in result.indices {
            let byte = result[index]
            if byte == 0x0A { inName = true; continue }
            if inName {
                if byte == UInt8(ascii: ":") { inName = false } else { result[index] = asciiLowercase(byte) }
            }
        }
        return result
    }
}

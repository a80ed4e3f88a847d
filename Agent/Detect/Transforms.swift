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
                bytes = percentDecoded(bytes, plusIsSpace: true)
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

/// `%xx` decoding (invalid escapes kept as they are).
func percentDecoded(_ bytes: [UInt8], plusIsSpace: Bool) -> [UInt8] {
    func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x61...0x66: return byte - 0x61 + 10
        case 0x41...0x46: return byte - 0x41 + 10
        default: return nil
        }
    }
    var result: [UInt8] = []
    result.reserveCapacity(bytes.count)
    var index = 0
    while index < bytes.count {
        let byte = bytes[index]
        if byte == UInt8(ascii: "%"), index + 2 < bytes.count, let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2]) {
            result.append(high << 4 | low)
            index += 3
            continue
        }
        result.append(plusIsSpace && byte == UInt8(ascii: "+") ? 0x20 : byte)
        index += 1
    }
    return result
}

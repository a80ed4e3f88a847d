/// How `byte_test`, `byte_jump` and `byte_extract` read a number: the options they share,
/// and the reading itself.
public struct ByteRead: Sendable, Equatable {
    public var count: Int
    public var offset: Int
    /// The offset is a `byte_extract` variable.
    public var offsetVariable: String?
    public var relative = false
    public var littleEndian = false
    /// `string` with a base: the bytes are digits.
    public var stringBase: Int?
    public var bitmask: UInt64?
    public var dce = false

    public init(count: Int, offset: Int) {
        self.count = count
        self.offset = offset
    }

    /// Reads the number at `position`: its value (masked) and the offset past it; nil when
    /// the buffer is too short or a string number has no digit there.
    public func value(in buffer: UnsafeRawBufferPointer, at position: Int) -> (value: UInt64, end: Int)? {
        let end = count == 0 ? min(buffer.count, position + 20) : position + count
        guard position >= 0, end <= buffer.count else { return nil }
        var value: UInt64 = 0
        if let base = stringBase {
            var digits = 0
            for index in position..<end {
                let byte = buffer[index]
                let digit: UInt64
                switch byte {
                case 0x30...0x39: digit = UInt64(byte - 0x30)
                case 0x61...0x66: digit = UInt64(byte - 0x61 + 10)
                case 0x41...0x46: digit = UInt64(byte - 0x41 + 10)
                default: digit = 99
                }
                // Suricata converts the leading digits and stops at the first other byte.
                guard digit < UInt64(base) else { break }
                value = value &* UInt64(base) &+ digit
                digits += 1
            }
            guard digits > 0 else { return nil }
        } else if littleEndian || dce {
            for index in (position..<end).reversed() { value = value << 8 | UInt64(buffer[index]) }
        } else {
            for index in position..<end { value = value << 8 | UInt64(buffer[index]) }
        }
        if let mask = bitmask, mask != 0 {
            value = (value & mask) >> UInt64(mask.trailingZeroBitCount)
        }
        return (value, end)
    }
}

extension OptionBuilder {
    /// `nbytes`, `offset` and the options the byte keywords share; returns the options it
    /// did not know.
    func byteRead(count text: String, offset: String, options: [String], keyword: String) throws -> (ByteRead, [String]) {
        guard let count = Int(text), count >= 0 else { throw OptionError("\(keyword): byte count '\(text)' is not a number") }
        var read: ByteRead
        if let number = Int(offset) {
            read = ByteRead(count: count, offset: number)
        } else if variables.contains(offset) {
            read = ByteRead(count: count, offset: 0)
            read.offsetVariable = offset
        } else {
            throw OptionError("\(keyword): offset '\(offset)' is not a number or a byte_extract name")
        }
        var rest: [String] = []
        var index = 0
        while index < options.count {
            let option = options[index]
            switch option {
            case "relative": read.relative = true
            case "big": read.littleEndian = false
            case "little": read.littleEndian = true
            case "dce": read.dce = true
            case "string": read.stringBase = 10
            case "hex": read.stringBase = 16
            case "dec": read.stringBase = 10
            case "oct": read.stringBase = 8
            default:
                if option.hasPrefix("bitmask") {
                    let text = option.dropFirst("bitmask".count).trimmingCharacters(in: " ")
                    let digits = text.hasPrefix("0x") ? String(text.dropFirst(2)) : text
                    guard let mask = UInt64(digits, radix: text.hasPrefix("0x") ? 16 : 10) else {
                        throw OptionError("\(keyword): bad bitmask '\(text)'")
                    }
                    read.bitmask = mask
                } else {
                    rest.append(option)
                }
            }
            index += 1
        }
        if read.stringBase != nil {
            // 0 bytes: the rest of the buffer (Suricata 7, for sticky buffers such as http.content_len).
            guard count <= 20 else { throw OptionError("\(keyword): a string number is at most 20 bytes") }
        } else {
            guard count >= 1, count <= 8 else {
                throw OptionError("\(keyword): byte count \(count) is not 1–8")
            }
        }
        return (read, rest)
    }

}

import MBoxPacket

/// A DNS message's header and question names, every length checked (compression
/// pointers followed with a bound).
public struct DNSMessage {
    public var id: UInt16
    public var isResponse: Bool
    public var opcode: UInt8
    /// Question names, dotted, as Suricata's `dns.query` shows them.
    public var queries: [[UInt8]]

    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 12 else { return nil }
        id = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        isResponse = bytes[2] & 0x80 != 0
        opcode = (bytes[2] >> 3) & 0x0F
        let questions = Int(bytes[4]) << 8 | Int(bytes[5])
        guard opcode <= 6, questions <= 64 else { return nil }
        queries = []
        var cursor = 12
        for _ in 0..<questions {
            guard let (name, next) = Self.name(bytes, at: cursor), next + 4 <= bytes.count else { return nil }
            queries.append(name)
            cursor = next + 4
        }
    }

    /// The name at `offset` and the offset after it in the message.
    static func name(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> ([UInt8], Int)? {
        var name: [UInt8] = []
        var cursor = offset
        var end: Int?
        var jumps = 0
        while true {
            guard cursor < bytes.count else { return nil }
            let length = Int(bytes[cursor])
            if length == 0 {
                return (name, end ?? cursor + 1)
            }
            if length & 0xC0 == 0xC0 {
                guard cursor + 1 < bytes.count, jumps < 16 else { return nil }
                if end == nil { end = cursor + 2 }
                cursor = (length & 0x3F) << 8 | Int(bytes[cursor + 1])
                jumps += 1
                continue
            }
            guard length <= 63, cursor + 1 + length <= bytes.count, name.count + length < 256 else { return nil }
            if !name.isEmpty { name.append(UInt8(ascii: ".")) }
            name += bytes[(cursor + 1)..<(cursor + 1 + length)]
            cursor += 1 + length
        }
    }
}

/// `byte_jump:bytes,offset[,relative][,multiplier N][,align][,from_beginning|from_end][,post_offset N]…`:
/// reads a number and moves the inspection point by it.
enum ByteJumpKeyword {
    static let keyword = RuleKeyword("byte_jump") { builder, _, value in
        let items = OptionBuilder.parts(value)
        guard items.count >= 2 else { throw OptionError("byte_jump needs bytes and offset") }
        let (read, rest) = try builder.byteRead(count: items[0], offset: items[1], options: Array(items.dropFirst(2)),
                                                keyword: "byte_jump")
        var jump = ByteJump(read: read)
        for option in rest {
            let words = option.split(separator: " ").map(String.init)
            switch words.first ?? "" {
            case "align": jump.align = true
            case "from_beginning": jump.fromBeginning = true
            case "from_end": jump.fromEnd = true
            case "multiplier" where words.count == 2 && UInt64(words[1]) != nil: jump.multiplier = UInt64(words[1])!
            case "post_offset" where words.count == 2 && Int(words[1]) != nil: jump.postOffset = Int(words[1])!
            default: throw OptionError("byte_jump: unknown option '\(option)'")
            }
        }
        _ = builder.append(.byteJump(jump))
    }
}

public struct ByteJump: Sendable, Equatable {
    public var read: ByteRead
    public var multiplier: UInt64 = 1
    public var postOffset: Int = 0
    public var align = false
    public var fromBeginning = false
    public var fromEnd = false

    /// Where inspection goes on after reading `number` (which ended at `readEnd`) in a
    /// buffer of `count` bytes; nil when that is outside the buffer.
    @inline(__always)
    public func target(after number: UInt64, readEnd: Int, count: Int) -> Int? {
        var distance = Int(truncatingIfNeeded: number &* multiplier)
        if align, distance % 4 != 0 { distance += 4 - distance % 4 }
        let base = fromBeginning ? 0 : fromEnd ? count : readEnd
        let target = base + distance + postOffset
        return target >= 0 && target <= count ? target : nil
    }
}

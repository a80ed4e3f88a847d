/// `byte_extract:bytes,offset,name[,relative][,multiplier N][,align N]…`: reads a number into
/// a variable later keywords of the rule use as an offset, depth or value.
enum ByteExtractKeyword {
    static let keyword = RuleKeyword("byte_extract") { builder, _, value in
        let items = OptionBuilder.parts(value)
        guard items.count >= 3 else { throw OptionError("byte_extract needs bytes, offset and a name") }
        let (read, rest) = try builder.byteRead(count: items[0], offset: items[1], options: Array(items.dropFirst(3)),
                                                keyword: "byte_extract")
        let name = items[2]
        guard name.first?.isLetter == true || name.first == "_" else { throw OptionError("byte_extract: bad name '\(name)'") }
        var extract = ByteExtract(read: read, name: name, slot: builder.variables.count)
        for option in rest {
            let words = option.split(separator: " ").map(String.init)
            switch words.first ?? "" {
            case "multiplier" where words.count == 2 && UInt64(words[1]) != nil: extract.multiplier = UInt64(words[1])!
            case "align" where words.count == 2 && Int(words[1]) != nil: extract.align = Int(words[1])!
            default: throw OptionError("byte_extract: unknown option '\(option)'")
            }
        }
        builder.variables.append(name)
        _ = builder.append(.byteExtract(extract))
    }
}

public struct ByteExtract: Sendable, Equatable {
    public var read: ByteRead
    public var name: String
    public var multiplier: UInt64 = 1
    public var align: Int = 0
    /// Slot in the inspection's variables.
    public var slot: Int = 0

    /// The variable's value for the number read.
    @inline(__always)
    public func value(of number: UInt64) -> UInt64 {
        var value = number &* multiplier
        if align > 1, value % UInt64(align) != 0 { value += UInt64(align) - value % UInt64(align) }
        return value
    }
}

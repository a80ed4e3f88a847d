/// `byte_test:bytes,[!]op,value,offset[,relative][,big|little][,string,dec|hex|oct][,bitmask N]`.
enum ByteTestKeyword {
    static let keyword = RuleKeyword("byte_test") { builder, _, value in
        let items = OptionBuilder.parts(value)
        guard items.count >= 4 else { throw OptionError("byte_test needs bytes, operator, value, offset") }
        var op = items[1]
        var negated = false
        if op.hasPrefix("!") {
            negated = true
            op.removeFirst()
            if op.isEmpty { op = "=" }
        }
        guard let comparison = NumberOperator(rawValue: op) else { throw OptionError("byte_test: unknown operator '\(items[1])'") }
        let (read, rest) = try builder.byteRead(count: items[0], offset: items[3], options: Array(items.dropFirst(4)),
                                                keyword: "byte_test")
        guard rest.isEmpty else { throw OptionError("byte_test: unknown option '\(rest[0])'") }
        var test = ByteTest(read: read, negated: negated, op: comparison, value: 0)
        if let number = OptionBuilder.integer(items[2]) {
            test.value = number
        } else if builder.variables.contains(items[2]) {
            test.valueVariable = items[2]
        } else {
            throw OptionError("byte_test: value '\(items[2])' is not a number or a byte_extract name")
        }
        _ = builder.append(.byteTest(test))
    }
}

public struct ByteTest: Sendable, Equatable {
    public var read: ByteRead
    public var negated = false
    public var op: NumberOperator
    public var value: UInt64
    public var valueVariable: String?

    /// Whether the number read compares as the test says against `target` (the value or
    /// its variable's).
    @inline(__always)
    public func holds(_ number: UInt64, target: UInt64) -> Bool {
        NumberTest(.compare(op, target)).holds(number) != negated
    }
}

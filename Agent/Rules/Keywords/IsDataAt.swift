/// `isdataat:[!]N[,relative]` — whether the buffer has data at a position.
enum IsDataAtKeyword {
    static let keyword = RuleKeyword("isdataat") { builder, _, value in
        let items = OptionBuilder.parts(value)
        guard var first = items.first else { throw OptionError("isdataat needs a position") }
        var test = IsDataAt(position: 0)
        if first.hasPrefix("!") {
            test.negated = true
            first.removeFirst()
        }
        if let position = Int(first) {
            test.position = position
        } else if builder.variables.contains(first) {
            test.variable = first
        } else {
            throw OptionError("isdataat: '\(first)' is not a number")
        }
        for option in items.dropFirst() {
            switch option {
            case "relative": test.relative = true
            case "rawbytes": break
            default: throw OptionError("isdataat: unknown option '\(option)'")
            }
        }
        _ = builder.append(.isDataAt(test))
    }
}

public struct IsDataAt: Sendable, Equatable {
    public var position: Int
    public var variable: String?
    public var relative = false
    public var negated = false

    /// Suricata: relative, data exists when the previous match's end plus N is within the
    /// buffer; absolute, when N is an offset inside it.
    @inline(__always)
    public func holds(at position: Int, count: Int) -> Bool {
        let present = relative ? position <= count : position >= 0 && position < count
        return present != negated
    }
}

/// Compares a number read from the data: `=`, `<`, `>`, `<=`, `>=`, `!=`, `&` (any bit),
/// `^` (not all bits), or a range.
public enum NumberOperator: String, Sendable {
    case equal = "=", less = "<", greater = ">", lessOrEqual = "<=", greaterOrEqual = ">=", notEqual = "!="
    case bitAnd = "&", bitXor = "^"
}

/// A number test (`dsize:>100`, `bsize:10<>20`, `urilen:5`, `itype:8`).
public struct NumberTest: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case compare(NumberOperator, UInt64)
        /// Exclusive range `low<>high`.
        case range(UInt64, UInt64)
    }
    public var kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    @inline(__always)
    public func holds(_ value: UInt64) -> Bool {
        switch kind {
        case let .range(low, high): return value > low && value < high
        case let .compare(op, target):
            switch op {
            case .equal: return value == target
            case .notEqual: return value != target
            case .less: return value < target
            case .greater: return value > target
            case .lessOrEqual: return value <= target
            case .greaterOrEqual: return value >= target
            case .bitAnd: return value & target != 0
            case .bitXor: return value ^ target != 0
            }
        }
    }

    /// The largest value that passes (`.max` when there is none below it).
    var maximum: UInt64 {
        switch kind {
        case let .range(_, high): return high - 1
        case let .compare(op, value):
            switch op {
            case .equal, .lessOrEqual: return value
            case .less: return value == 0 ? 0 : value - 1
            default: return .max
            }
        }
    }

    /// Parses `N`, `<N`, `>N`, `<=N`, `>=N`, `!N`, `=N`, `N<>M`, `N-M`.
    init(parsing value: String, keyword: String) throws {
        let text = value.trimmingCharacters(in: " ")
        for separator in ["<>", "-"] {
            if let range = text.range(of: separator), range.lowerBound != text.startIndex {
                guard let low = UInt64(text[..<range.lowerBound].trimmingCharacters(in: " ")),
                      let high = UInt64(text[range.upperBound...].trimmingCharacters(in: " ")), low < high else {
                    throw OptionError("\(keyword): bad range '\(text)'")
                }
                self.init(.range(low, high))
                return
            }
        }
        for (prefix, op) in [("<=", NumberOperator.lessOrEqual), (">=", .greaterOrEqual), ("!=", .notEqual),
                             ("<", .less), (">", .greater), ("!", .notEqual), ("=", .equal)] where text.hasPrefix(prefix) {
            guard let number = UInt64(text.dropFirst(prefix.count).trimmingCharacters(in: " ")) else {
                throw OptionError("\(keyword): '\(text)' is not a number")
            }
            self.init(.compare(op, number))
            return
        }
        guard let number = UInt64(text) else { throw OptionError("\(keyword): '\(text)' is not a number") }
        self.init(.compare(.equal, number))
    }
}

extension String {
    /// The first range of `needle`, without Foundation.
    func range(of needle: String) -> Range<String.Index>? {
        guard !needle.isEmpty else { return nil }
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(needle) { return index..<self.index(index, offsetBy: needle.count) }
            index = self.index(after: index)
        }
        return nil
    }
}

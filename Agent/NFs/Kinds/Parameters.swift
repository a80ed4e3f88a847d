/// An NF's parameters from the chain file, read with type checks that point at the line.
public struct Parameters {
    var values: [(String, ParameterValue, SourceLocation)]
    let owner: SourceLocation
    public private(set) var errors: [ChainError] = []
    private var used: Set<String> = []

    public init(_ values: [(String, ParameterValue, SourceLocation)], owner: SourceLocation) {
        self.values = values
        self.owner = owner
    }

    private mutating func lookup(_ name: String) -> (ParameterValue, SourceLocation)? {
        used.insert(name)
        return values.first { $0.0 == name }.map { ($0.1, $0.2) }
    }

    mutating func error(_ location: SourceLocation?, _ message: String) {
        errors.append(ChainError(location: location ?? owner, message: message))
    }

    mutating func int(_ name: String, default fallback: Int, range: ClosedRange<Int>) -> Int {
        guard let (value, location) = lookup(name) else { return fallback }
        guard case let .int(number) = value, range.contains(number) else {
            error(location, "'\(name)' must be an integer in \(range.lowerBound)...\(range.upperBound)")
            return fallback
        }
        return number
    }

    mutating func bool(_ name: String, default fallback: Bool) -> Bool {
        guard let (value, location) = lookup(name) else { return fallback }
        guard case let .bool(flag) = value else {
            error(location, "'\(name)' must be true or false")
            return fallback
        }
        return flag
    }

    mutating func string(_ name: String, default fallback: String?) -> String? {
        guard let (value, location) = lookup(name) else { return fallback }
        guard case let .string(text) = value else {
            error(location, "'\(name)' must be a string")
            return fallback
        }
        return text
    }

    mutating func list(_ name: String) -> ([ParameterValue], SourceLocation)? {
        guard let (value, location) = lookup(name) else { return nil }
        guard case let .list(items) = value else {
            error(location, "'\(name)' must be a list")
            return nil
        }
        return (items, location)
    }

    mutating func map(_ name: String) -> ([(String, ParameterValue)], SourceLocation)? {
        guard let (value, location) = lookup(name) else { return nil }
        guard case let .map(items) = value else {
            error(location, "'\(name)' must be a mapping")
            return nil
        }
        return (items, location)
    }

    /// Reports parameters the NF does not know (a typo must not be silently ignored).
    public mutating func rejectUnknown(kind: String, known: [String]) {
        for (name, _, location) in values where !used.contains(name) && !known.contains(name) {
            error(location, "\(kind) has no parameter '\(name)' (it takes: \(known.joined(separator: ", ")))")
        }
    }
}

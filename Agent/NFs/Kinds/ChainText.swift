/// What chain files are made of, as far as an NF's parameters need it: where a value was
/// written, what was wrong there, and the values themselves.

/// A place in a chain file, for error messages.
public struct SourceLocation: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// One precise problem in a chain file.
public struct ChainError: Error, Sendable, Equatable, CustomStringConvertible {
    public var location: SourceLocation
    public var message: String

    public init(location: SourceLocation, message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(location): \(message)" }
}

/// Every problem found in a chain file (validation does not stop at the first).
public struct ChainErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ChainError]

    public init(errors: [ChainError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}

/// A parameter value from YAML.
public enum ParameterValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case list([ParameterValue])
    case map([(String, ParameterValue)])

    public static func == (a: ParameterValue, b: ParameterValue) -> Bool { "\(a)" == "\(b)" }
}

import CHyperscan

/// A Hyperscan failure: which pattern (when compiling) and Hyperscan's own message.
public struct HyperscanError: Error, CustomStringConvertible {
    public var patternIndex: Int?
    public var message: String

    public var description: String {
        patternIndex.map { "pattern \($0): \(message)" } ?? message
    }

    static func check(_ status: hs_error_t, _ what: String) throws {
        guard status == HS_SUCCESS else { throw HyperscanError(patternIndex: nil, message: "\(what) failed (hs error \(status))") }
    }
}

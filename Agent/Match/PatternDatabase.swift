import CHyperscan

/// One pattern for Hyperscan: a literal (escaped byte by byte) or a regular expression.
public struct Pattern: Sendable {
    public var expression: String
    public var caseless = false
    public var dotAll = false
    public var multiline = false
    /// Report only the first match of this pattern in a scan (enough for a prefilter).
    public var singleMatch = false
    /// Bytes a literal spans (0 for an expression).
    public var length = 0
    /// Reported with each match.
    public var id: UInt32

    /// A literal byte string.
    public static func literal(_ bytes: [UInt8], caseless: Bool, id: UInt32) -> Pattern {
        let hex = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 4)
        for byte in bytes {
            text += [UInt8(ascii: "\\"), UInt8(ascii: "x"), hex[Int(byte >> 4)], hex[Int(byte & 15)]]
        }
        var pattern = Pattern(expression: String(decoding: text, as: UTF8.self), caseless: caseless, id: id)
        pattern.length = bytes.count
        return pattern
    }

    public init(expression: String, caseless: Bool = false, dotAll: Bool = false, multiline: Bool = false, id: UInt32) {
        self.expression = expression
        self.caseless = caseless
        self.dotAll = dotAll
        self.multiline = multiline
        self.id = id
    }

    var flags: UInt32 {
        var flags: UInt32 = 0
        if caseless { flags |= UInt32(HS_FLAG_CASELESS) }
        if dotAll { flags |= UInt32(HS_FLAG_DOTALL) }
        if multiline { flags |= UInt32(HS_FLAG_MULTILINE) }
        if singleMatch { flags |= UInt32(HS_FLAG_SINGLEMATCH) }
        return flags
    }
}

/// A compiled Hyperscan database, for scanning blocks (packets) or streams (reassembled
/// byte streams, matched across chunk boundaries without keeping the bytes).
///
/// `@unchecked Sendable`: a Hyperscan database is read-only once compiled and documented as
/// shareable between threads; each thread scans with scratch space of its own.
public final class PatternDatabase: @unchecked Sendable {
    public enum Mode: Sendable { case block, stream }

    public let mode: Mode
    let database: OpaquePointer
    /// Bytes of state each open stream needs.
    public let streamSize: Int
    /// The compiled database's size.
    public let bytes: Int

    /// Checks one pattern alone; the error says why Hyperscan refuses it.
    public static func validate(_ pattern: Pattern) throws {
        _ = try PatternDatabase([pattern], mode: .block)
    }

    public init(_ patterns: [Pattern], mode: Mode) throws {
        precondition(!patterns.isEmpty, "a database needs at least one pattern")
        self.mode = mode
        var expressions = patterns.map { strdup($0.expression) }
        defer { expressions.forEach { free($0) } }
        var flags = patterns.map(\.flags)
        var ids = patterns.map(\.id)
        var database: OpaquePointer?
        var compileError: UnsafeMutablePointer<hs_compile_error_t>?
        let hsMode = mode == .block ? UInt32(HS_MODE_BLOCK) : UInt32(HS_MODE_STREAM)
        let status = expressions.withUnsafeMutableBufferPointer { expressionBuffer in
            expressionBuffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: patterns.count) {
                hs_compile_multi($0, &flags, &ids, UInt32(patterns.count), hsMode, nil, &database, &compileError)
            }
        }
        guard status == HS_SUCCESS, let database else {
            let message = compileError.map { String(cString: $0.pointee.message) } ?? "compile failed (hs error \(status))"
            let index = compileError.map { Int($0.pointee.expression) }
            if let compileError { hs_free_compile_error(compileError) }
            throw HyperscanError(patternIndex: index.flatMap { $0 >= 0 ? $0 : nil }, message: message)
        }
        self.database = database
        var size = 0
        if mode == .stream { _ = hs_stream_size(database, &size) }
        streamSize = size
        var databaseSize = 0
        _ = hs_database_size(database, &databaseSize)
        bytes = databaseSize
    }

    deinit { hs_free_database(database) }
}

#if canImport(Glibc)
import Glibc
#endif

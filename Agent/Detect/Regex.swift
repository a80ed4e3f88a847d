import CPCRE2
import MBoxRules

/// A compiled PCRE2 expression (JIT where available), shared by every thread; each
/// thread matches with its own `RegexMatcher`.
///
/// `@unchecked Sendable`: compiled PCRE2 code is read-only and shareable (PCRE2's own rule);
/// match data is per thread.
public final class Regex: @unchecked Sendable {
    let code: OpaquePointer

    /// Compiles `pcre` with its flags; the error is PCRE2's message with the offset.
    public init(_ pcre: PCREMatch) throws {
        var options: UInt32 = 0
        if pcre.caseless { options |= PCRE2_CASELESS }
        if pcre.dotAll { options |= PCRE2_DOTALL }
        if pcre.multiline { options |= PCRE2_MULTILINE }
        if pcre.extended { options |= PCRE2_EXTENDED }
        if pcre.anchored { options |= PCRE2_ANCHORED }
        if pcre.dollarEndOnly { options |= PCRE2_DOLLAR_ENDONLY }
        if pcre.ungreedy { options |= PCRE2_UNGREEDY }
        var errorCode: Int32 = 0
        var errorOffset = 0
        let bytes = Array(pcre.expression.utf8)
        let compiled = bytes.withUnsafeBufferPointer {
            pcre2_compile_8($0.baseAddress, $0.count, options, &errorCode, &errorOffset, nil)
        }
        guard let compiled else {
            var message = [UInt8](repeating: 0, count: 256)
            _ = pcre2_get_error_message_8(errorCode, &message, message.count)
            throw RegexError(message: String(decoding: message.prefix(while: { $0 != 0 }), as: UTF8.self), offset: errorOffset)
        }
        code = compiled
        // JIT failing (an unsupported platform) leaves the interpreter, which still works.
        _ = pcre2_jit_compile_8(code, PCRE2_JIT_COMPLETE)
    }

    deinit { pcre2_code_free_8(code) }
}

public struct RegexError: Error, CustomStringConvertible {
    public var message: String
    public var offset: Int
    public var description: String { "\(message) at offset \(offset)" }
}

/// One thread's match data and limits for running `Regex`es.
public final class RegexMatcher {
    private let matchData: OpaquePointer
    private let context: OpaquePointer
    /// Matches stopped by the backtracking limit (counted as no match, as Suricata does).
    public private(set) var limitHits: UInt64 = 0

    public init() {
        matchData = pcre2_match_data_create_8(16, nil)
        context = pcre2_match_context_create_8(nil)
        // Suricata's defaults: match-limit 3500, recursion limit 1500.
        pcre2_set_match_limit_8(context, 3500)
        pcre2_set_depth_limit_8(context, 1500)
    }

    deinit {
        pcre2_match_data_free_8(matchData)
        pcre2_match_context_free_8(context)
    }

    /// The first match in `subject` at or after `start`: its start and end, or nil.
    public func firstMatch(_ regex: Regex, in subject: UnsafeRawBufferPointer, from start: Int) -> (Int, Int)? {
        guard start <= subject.count else { return nil }
        let base = subject.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? UnsafePointer(bitPattern: 1)!
        let result = pcre2_match_8(regex.code, subject.count == 0 ? base : base, subject.count, start, 0, matchData, context)
        if result < 0 {
            if result == PCRE2_ERROR_MATCHLIMIT || result == PCRE2_ERROR_DEPTHLIMIT { limitHits &+= 1 }
            return nil
        }
        let vector = pcre2_get_ovector_pointer_8(matchData)!
        return (Int(vector[0]), Int(vector[1]))
    }
}

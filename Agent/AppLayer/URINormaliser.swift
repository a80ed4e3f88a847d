import MBoxRules

/// Suricata's (libhtp's) normalised request URI: percent-decoding of the path and query,
/// `\` as `/`, repeated slashes compressed, and `.`/`..` segments removed from the path.
public enum URINormaliser {
    public static func normalise(_ raw: [UInt8]) -> [UInt8] {
        var uri = raw
        // An absolute URI (a proxy request) keeps only its path.
        if let scheme = uri.firstIndex(of: UInt8(ascii: ":")), uri.count > scheme + 2,
           uri[scheme + 1] == UInt8(ascii: "/"), uri[scheme + 2] == UInt8(ascii: "/"),
           uri[..<scheme].allSatisfy({ ($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A }) {
            let rest = uri[(scheme + 3)...]
            uri = rest.firstIndex(of: UInt8(ascii: "/")).map { Array(rest[$0...]) } ?? [UInt8(ascii: "/")]
        }
        let queryStart = uri.firstIndex(of: UInt8(ascii: "?")) ?? uri.count
        var path = PercentDecoding.decode(Array(uri[..<queryStart]))
        path = path.map { $0 == UInt8(ascii: "\\") ? UInt8(ascii: "/") : $0 }
        path = removeDotSegments(compressSlashes(path))
        let query = queryStart < uri.count ? PercentDecoding.decode(Array(uri[queryStart...])) : []
        return path + query
    }

    static func compressSlashes(_ path: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(path.count)
        for byte in path {
            if byte == UInt8(ascii: "/"), result.last == UInt8(ascii: "/") { continue }
            result.append(byte)
        }
        return result
    }

    /// RFC 3986 section 5.2.4.
    static func removeDotSegments(_ path: [UInt8]) -> [UInt8] {
        let slash = UInt8(ascii: "/")
        var segments: [ArraySlice<UInt8>] = []
        let absolute = path.first == slash
        let parts = path.split(separator: slash, omittingEmptySubsequences: false)
        for (index, part) in parts.enumerated() {
            if index == 0, absolute { continue }
            if part.elementsEqual([UInt8(ascii: ".")]) {
                if index == parts.count - 1 { segments.append([]) }
                continue
            }
            if part.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                if !segments.isEmpty { segments.removeLast() }
                if index == parts.count - 1 { segments.append([]) }
                continue
            }
            segments.append(part)
        }
        var result: [UInt8] = absolute ? [slash] : []
        for (index, segment) in segments.enumerated() {
            if index > 0 { result.append(slash) }
            result += segment
        }
        return result
    }
}

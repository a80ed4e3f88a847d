#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address held by value in 16 bytes; IPv4 is stored IPv4-mapped
/// (::ffff:a.b.c.d) so one flow key type covers both families.
public struct IPAddress: Hashable, Sendable, CustomStringConvertible {
    /// The address bytes in network order, as two memory-order words.
    public var high: UInt64
    public var low: UInt64

    @inlinable
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// An IPv4 address from its four bytes in network order (as loaded from a header).
    @inlinable
    public init(ipv4NetworkOrder word: UInt32) {
        high = 0
        // ::ffff:a.b.c.d — bytes 10 and 11 are 0xff, the last four the address.
        low = UInt64(0xFFFF) << 16 | UInt64(word) << 32
    }

    /// An IPv4 address from dotted-quad components.
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) {
        let word = UInt32(a) | UInt32(b) << 8 | UInt32(c) << 16 | UInt32(d) << 24
        self.init(ipv4NetworkOrder: word)
    }

    /// An address from its 16 network-order bytes.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 16)
        var value = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes) }
        high = value.0
        low = value.1
    }

    /// Parses dotted-quad IPv4 or textual IPv6; nil if neither.
    public init?(_ text: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            self.init(ipv4NetworkOrder: v4.s_addr)
            return
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        var value = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &value) { dst in withUnsafeBytes(of: &v6) { dst.copyMemory(from: $0) } }
        self.init(high: value.0, low: value.1)
    }

    @inlinable
    public var isIPv4: Bool { high == 0 && (low & 0xFFFF_FFFF) == 0xFFFF_0000 }

    /// The 16 bytes in network order.
    public var bytes: [UInt8] {
        withUnsafeBytes(of: (high, low)) { Array($0) }
    }

    /// The 4 IPv4 bytes in network order; only meaningful when `isIPv4`.
    public var ipv4Bytes: [UInt8] { Array(bytes[12..<16]) }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: 64)
        if isIPv4 {
            var v4 = in_addr(s_addr: UInt32(truncatingIfNeeded: low >> 32))
            inet_ntop(AF_INET, &v4, &buffer, 64)
        } else {
            var v6 = in6_addr()
            withUnsafeMutableBytes(of: &v6) { dst in withUnsafeBytes(of: (high, low)) { dst.copyMemory(from: $0) } }
            inet_ntop(AF_INET6, &v6, &buffer, 64)
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

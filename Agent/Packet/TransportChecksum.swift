/// The TCP/UDP checksum over the IPv4 or IPv6 pseudo-header and the segment.
public enum TransportChecksum {
    /// Whether the transport segment `headers` describe carries a correct checksum.
    public static func isValid(_ bytes: UnsafeRawBufferPointer, headers: PacketHeaders) -> Bool {
        let start = headers.transportOffset
        let end = headers.networkOffset + headers.ipLength
        guard start < end, end <= bytes.count else { return false }
        var sum: UInt64 = 0
        // Pseudo-header: addresses, protocol, segment length.
        let addresses = headers.ipVersion == 4 ? (headers.networkOffset + 12)..<(headers.networkOffset + 20)
            : (headers.networkOffset + 8)..<(headers.networkOffset + 40)
        sum &+= words(bytes, addresses)
        sum &+= UInt64(headers.ipProtocol) &+ UInt64(end - start)
        sum &+= words(bytes, start..<end)
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) &+ (sum >> 16) }
        return sum == 0xFFFF
    }

    /// The 16-bit big-endian words of `range` summed (odd tail padded with zero), as a
    /// one's-complement sum kept in 64 bits: eight bytes at a time with the carry wrapped
    /// around, which folds to the same 16-bit sum (2^16 ≡ 1 modulo 0xFFFF).
    @inline(__always)
    static func words(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt64 {
        var sum: UInt64 = 0
        var index = range.lowerBound
        while index + 8 <= range.upperBound {
            let (total, carry) = sum.addingReportingOverflow(UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)))
            sum = total &+ (carry ? 1 : 0)
            index += 8
        }
        var tail: UInt64 = 0
        while index + 2 <= range.upperBound {
            tail &+= UInt64(bytes[index]) << 8 | UInt64(bytes[index + 1])
            index += 2
        }
        if index < range.upperBound { tail &+= UInt64(bytes[index]) << 8 }
        // Fold the 64-bit sum to 32 bits (end-around) before adding the small tail.
        sum = (sum & 0xFFFF_FFFF) &+ (sum >> 32)
        return sum &+ tail
    }
}

extension TransportChecksum {
    /// The checksum to store in the TCP/UDP header of the segment at `start..<end` (its
    /// checksum field zero) for the pseudo-header of `addresses` (the IP header's source
    /// and destination bytes) and `ipProtocol`.
    public static func compute(_ bytes: UnsafeRawBufferPointer, segment: Range<Int>, addresses: Range<Int>,
                               ipProtocol: UInt8) -> UInt16 {
        var sum = words(bytes, addresses) &+ UInt64(ipProtocol) &+ UInt64(segment.count) &+ words(bytes, segment)
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) &+ (sum >> 16) }
        return ~UInt16(sum)
    }

    /// The IPv4 header checksum of the header at `range` (its checksum field zero).
    public static func ipv4Header(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt16 {
        var sum = words(bytes, range)
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) &+ (sum >> 16) }
        return ~UInt16(sum)
    }

    /// A stored checksum after one 16-bit word it covers changed from `old` to `new`
    /// (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')), so rewriting a header field costs no
    /// pass over the packet.
    @inlinable @inline(__always)
    public static func adjusted(_ checksum: UInt16, old: UInt16, new: UInt16) -> UInt16 {
        var sum = UInt32(~checksum) &+ UInt32(~old) &+ UInt32(new)
        sum = (sum & 0xFFFF) &+ (sum >> 16)
        sum = (sum & 0xFFFF) &+ (sum >> 16)
        return ~UInt16(truncatingIfNeeded: sum)
    }

    /// A stored checksum after a 32-bit field it covers changed.
    @inlinable @inline(__always)
    public static func adjusted(_ checksum: UInt16, old: UInt32, new: UInt32) -> UInt16 {
        let high = adjusted(checksum, old: UInt16(truncatingIfNeeded: old >> 16), new: UInt16(truncatingIfNeeded: new >> 16))
        return adjusted(high, old: UInt16(truncatingIfNeeded: old), new: UInt16(truncatingIfNeeded: new))
    }
}

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

    /// The 16-bit big-endian words of `range` summed (odd tail padded with zero), unfolded.
    @inline(__always)
    static func words(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> UInt64 {
        var sum: UInt64 = 0
        var index = range.lowerBound
        // Four bytes at a time: two words in one 32-bit big-endian load.
        while index + 4 <= range.upperBound {
            sum &+= UInt64(UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt32.self)))
            index += 4
        }
        if index + 2 <= range.upperBound {
            sum &+= UInt64(bytes[index]) << 8 | UInt64(bytes[index + 1])
            index += 2
        }
        if index < range.upperBound { sum &+= UInt64(bytes[index]) << 8 }
        return sum
    }
}

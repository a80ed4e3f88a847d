extension UnsafeRawBufferPointer {
    /// Network-order 16-bit field at `offset`; the caller has checked the bounds.
    @inlinable @inline(__always)
    public func be16(_ offset: Int) -> UInt16 {
        UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self))
    }

    /// Network-order 32-bit field at `offset`; the caller has checked the bounds.
    @inlinable @inline(__always)
    public func be32(_ offset: Int) -> UInt32 {
        UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// 64 bits in memory order (used for addresses, which are compared, not computed with).
    @inlinable @inline(__always)
    func raw64(_ offset: Int) -> UInt64 {
        loadUnaligned(fromByteOffset: offset, as: UInt64.self)
    }
}

/// Loads of fixed-width integers from file bytes whose byte order the file declares.
struct ByteOrderedReader {
    let bytes: UnsafeRawBufferPointer
    let swapped: Bool

    @inline(__always)
    func u16(_ offset: Int) -> UInt16 {
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        return swapped ? v.byteSwapped : v
    }

    @inline(__always)
    func u32(_ offset: Int) -> UInt32 {
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return swapped ? v.byteSwapped : v
    }
}

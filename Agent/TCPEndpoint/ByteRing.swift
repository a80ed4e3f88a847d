/// A fixed-capacity ring of bytes: appended at the tail, consumed from the head. Bytes may
/// also be written ahead of the tail (out-of-order segments) and committed once the gap
/// before them fills. Allocated once per connection; nothing per segment.
public struct ByteRing {
    private let storage: UnsafeMutableRawPointer
    public let capacity: Int
    private var head = 0
    /// Committed bytes, from the head.
    public private(set) var count = 0

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        storage = .allocate(byteCount: capacity, alignment: 16)
    }

    /// Frees the storage (the owner calls this once, when the connection ends).
    public func deallocate() { storage.deallocate() }

    /// Bytes that fit behind the committed ones.
    @inline(__always) public var free: Int { capacity - count }

    @inline(__always) private func position(_ offset: Int) -> Int {
        let index = head + offset
        return index >= capacity ? index - capacity : index
    }

    /// Writes `bytes` at `offset` behind the tail without committing them
    /// (`offset + bytes.count <= free`).
    public func write(_ bytes: UnsafeRawBufferPointer, ahead offset: Int) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(offset >= 0 && offset + bytes.count <= free)
        let start = position(count + offset)
        let first = min(bytes.count, capacity - start)
        (storage + start).copyMemory(from: base, byteCount: first)
        if first < bytes.count { storage.copyMemory(from: base + first, byteCount: bytes.count - first) }
    }

    /// Makes the next `length` bytes behind the tail part of the ring.
    public mutating func commit(_ length: Int) {
        precondition(length >= 0 && length <= free)
        count += length
    }

    /// Appends as much of `bytes` as fits; returns how much did.
    @discardableResult
    public mutating func append(_ bytes: UnsafeRawBufferPointer) -> Int {
        let length = min(bytes.count, free)
        write(UnsafeRawBufferPointer(rebasing: bytes[..<length]), ahead: 0)
        commit(length)
        return length
    }

    /// Drops `length` bytes from the head.
    public mutating func consume(_ length: Int) {
        precondition(length >= 0 && length <= count)
        head = position(length)
        count -= length
        // (The head is not rewound when empty: bytes written ahead sit relative to the tail.)
    }

    /// The committed bytes `offset..<offset + length` as up to two contiguous parts.
    public func parts(from offset: Int, length: Int) -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer) {
        precondition(offset >= 0 && length >= 0 && offset + length <= count)
        let start = position(offset)
        let first = min(length, capacity - start)
        return (UnsafeRawBufferPointer(start: storage + start, count: first),
                UnsafeRawBufferPointer(start: first < length ? storage : nil, count: length - first))
    }

    /// Copies committed bytes `offset..<offset + length` to `destination`.
    public func copy(from offset: Int, length: Int, to destination: UnsafeMutableRawPointer) {
        let (first, second) = parts(from: offset, length: length)
        if first.count > 0 { destination.copyMemory(from: first.baseAddress!, byteCount: first.count) }
        if second.count > 0 { (destination + first.count).copyMemory(from: second.baseAddress!, byteCount: second.count) }
    }
}

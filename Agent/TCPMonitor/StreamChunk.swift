/// A piece of a reassembled byte stream: new in-order bytes (this becomes `DATA_RDY`),
/// or a gap where bytes were lost.
///
/// `bytes` points into the packet or into reassembly storage and stays valid until the
/// monitor's next `beginPacket()`; consumers copy what they keep.
public struct StreamChunk {
    public var flowID: UInt64
    public var slot: Int32
    public var direction: StreamDirection
    /// Stream offset of the first byte (gaps count toward offsets).
    public var offset: UInt64
    public var length: Int
    /// Nil for a gap.
    public var bytes: UnsafeRawPointer?

    @inlinable public var isGap: Bool { bytes == nil }

    public var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: bytes, count: bytes == nil ? 0 : length) }
}

/// A growable array of chunks that keeps its storage between packets, so steady-state
/// reassembly allocates nothing.
struct ChunkBuffer {
    private(set) var base: UnsafeMutablePointer<StreamChunk>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int = 64) {
        self.capacity = capacity
        base = .allocate(capacity: capacity)
    }

    func deallocate() { base.deallocate() }

    @inline(__always)
    mutating func append(_ chunk: StreamChunk) {
        if count == capacity { grow() }
        (base + count).initialize(to: chunk)
        count += 1
    }

    mutating func removeAll() { count = 0 }

    var elements: UnsafeBufferPointer<StreamChunk> { UnsafeBufferPointer(start: base, count: count) }

    private mutating func grow() {
        let larger = UnsafeMutablePointer<StreamChunk>.allocate(capacity: capacity * 2)
        larger.moveInitialize(from: base, count: count)
        base.deallocate()
        base = larger
        capacity *= 2
    }
}

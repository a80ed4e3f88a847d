/// Fixed-size blocks holding out-of-order bytes, allocated once. A segment larger than
/// a block spans several. Nodes link into per-direction lists sorted by sequence number.
struct SegmentStore {
    let blockSize: Int
    let nodeCount: Int
    private let sequence: UnsafeMutablePointer<UInt32>
    private let length: UnsafeMutablePointer<UInt16>
    private let nextNode: UnsafeMutablePointer<Int32>
    private let arena: UnsafeMutableRawPointer
    private var freeHead: Int32
    private(set) var freeCount: Int

    init(blockSize: Int, totalBytes: Int) {
        precondition(blockSize > 0 && blockSize <= Int(UInt16.max))
        self.blockSize = blockSize
        nodeCount = max(1, totalBytes / blockSize)
        sequence = .allocate(capacity: nodeCount)
        length = .allocate(capacity: nodeCount)
        nextNode = .allocate(capacity: nodeCount)
        arena = .allocate(byteCount: nodeCount * blockSize, alignment: 64)
        for node in 0..<nodeCount {
            (nextNode + node).initialize(to: node + 1 < nodeCount ? Int32(node + 1) : -1)
        }
        sequence.initialize(repeating: 0, count: nodeCount)
        length.initialize(repeating: 0, count: nodeCount)
        freeHead = 0
        freeCount = nodeCount
    }

    func deallocate() {
        sequence.deallocate()
        length.deallocate()
        nextNode.deallocate()
        arena.deallocate()
    }

    @inline(__always) func seq(_ node: Int32) -> UInt32 { sequence[Int(node)] }
    @inline(__always) func len(_ node: Int32) -> Int { Int(length[Int(node)]) }
    @inline(__always) func next(_ node: Int32) -> Int32 { nextNode[Int(node)] }
    @inline(__always) func data(_ node: Int32) -> UnsafeMutableRawPointer { arena + Int(node) * blockSize }
    @inline(__always) func setNext(_ node: Int32, _ next: Int32) { nextNode[Int(node)] = next }

    /// Takes a node and fills it with `count` bytes from `source`; nil when none is free.
    mutating func allocate(seq: UInt32, from source: UnsafeRawPointer, count: Int) -> Int32? {
        guard freeHead >= 0 else { return nil }
        let node = freeHead
        freeHead = nextNode[Int(node)]
        freeCount -= 1
        sequence[Int(node)] = seq
        length[Int(node)] = UInt16(count)
        nextNode[Int(node)] = -1
        data(node).copyMemory(from: source, byteCount: count)
        return node
    }

    /// Returns a chain of nodes (linked through `next`) to the free list.
    mutating func release(chain first: Int32) {
        var node = first
        while node >= 0 {
            let following = nextNode[Int(node)]
            nextNode[Int(node)] = freeHead
            freeHead = node
            freeCount += 1
            node = following
        }
    }
}

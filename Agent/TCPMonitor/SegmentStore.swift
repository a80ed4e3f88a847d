#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
/// Out-of-order bytes, in blocks allocated once, of two sizes: small blocks for small
/// segments (an eighth of the store) and large ones for the rest, so a one-byte segment
/// holds a small block, not a large one, and a flood of tiny segments cannot take the
/// space large ones need. A segment larger than a block spans several. Nodes link into
/// per-direction lists sorted by sequence number; node ids below `smallCount` are small.
struct SegmentStore {
    let largeSize: Int
    let smallSize: Int
    let smallCount: Int
    let largeCount: Int
    var nodeCount: Int { smallCount + largeCount }
    private let sequence: UnsafeMutablePointer<UInt32>
    private let length: UnsafeMutablePointer<UInt16>
    private let nextNode: UnsafeMutablePointer<Int32>
    /// The sequence range of the segment each node's bytes came from (target policies
    /// compare whole segments).
    private let segmentBounds: UnsafeMutablePointer<(UInt32, UInt32)>
    private let smallArena: UnsafeMutableRawPointer
    private let largeArena: UnsafeMutableRawPointer
    private var freeSmall: Int32
    private var freeLarge: Int32
    /// Bytes of blocks not in use.
    private(set) var freeBytes: Int

    init(largeSize: Int, smallSize: Int, totalBytes: Int) {
        precondition(largeSize > 0 && largeSize <= Int(UInt16.max) && smallSize > 0 && smallSize <= largeSize)
        self.largeSize = largeSize
        self.smallSize = smallSize
        smallCount = max(1, totalBytes / 8 / smallSize)
        largeCount = max(1, (totalBytes - smallCount * smallSize) / largeSize)
        let count = smallCount + largeCount
        sequence = .allocate(capacity: count)
        length = .allocate(capacity: count)
        nextNode = .allocate(capacity: count)
        segmentBounds = .allocate(capacity: count)
        segmentBounds.initialize(repeating: (0, 0), count: count)
        smallArena = .allocate(byteCount: smallCount * smallSize, alignment: 64)
        largeArena = .allocate(byteCount: largeCount * largeSize, alignment: 64)
        for node in 0..<count {
            let last = node == smallCount - 1 || node == count - 1
            (nextNode + node).initialize(to: last ? -1 : Int32(node + 1))
        }
        sequence.initialize(repeating: 0, count: count)
        length.initialize(repeating: 0, count: count)
        freeSmall = 0
        freeLarge = Int32(smallCount)
        freeBytes = smallCount * smallSize + largeCount * largeSize
    }

    func deallocate() {
        sequence.deallocate()
        length.deallocate()
        nextNode.deallocate()
        segmentBounds.deallocate()
        smallArena.deallocate()
        largeArena.deallocate()
    }

    /// All the bytes the store has.
    var totalBytes: Int { smallCount * smallSize + largeCount * largeSize }

    @inline(__always) func seq(_ node: Int32) -> UInt32 { sequence[Int(node)] }
    @inline(__always) func len(_ node: Int32) -> Int { Int(length[Int(node)]) }
    @inline(__always) func next(_ node: Int32) -> Int32 { nextNode[Int(node)] }
    @inline(__always) func setNext(_ node: Int32, _ next: Int32) { nextNode[Int(node)] = next }
    /// First and past-the-end sequence numbers of the segment the node's bytes came from.
    @inline(__always) func segment(_ node: Int32) -> (UInt32, UInt32) { segmentBounds[Int(node)] }
    /// The bytes a node takes from the store (what its direction is charged).
    @inline(__always) func capacity(_ node: Int32) -> Int { Int(node) < smallCount ? smallSize : largeSize }

    @inline(__always) func data(_ node: Int32) -> UnsafeMutableRawPointer {
        Int(node) < smallCount ? smallArena + Int(node) * smallSize : largeArena + (Int(node) - smallCount) * largeSize
    }

    /// Takes a node for `count` bytes (at most `largeSize`) — a small one when they fit and
    /// one is free — and fills it from `source`; nil when none fits.
    mutating func allocate(seq: UInt32, from source: UnsafeRawPointer, count: Int, segment: (UInt32, UInt32)) -> Int32? {
        let node: Int32
        if count <= smallSize, freeSmall >= 0 {
            node = freeSmall
            freeSmall = nextNode[Int(node)]
        } else if freeLarge >= 0 {
            node = freeLarge
            freeLarge = nextNode[Int(node)]
        } else {
            return nil
        }
        freeBytes -= capacity(node)
        sequence[Int(node)] = seq
        length[Int(node)] = UInt16(count)
        nextNode[Int(node)] = -1
        segmentBounds[Int(node)] = segment
        data(node).copyMemory(from: source, byteCount: count)
        return node
    }

    /// Returns a chain of nodes (linked through `next`) to the free lists.
    mutating func release(chain first: Int32) {
        var node = first
        while node >= 0 {
            let following = nextNode[Int(node)]
            freeBytes += capacity(node)
            if Int(node) < smallCount {
                nextNode[Int(node)] = freeSmall
                freeSmall = node
            } else {
                nextNode[Int(node)] = freeLarge
                freeLarge = node
            }
            node = following
        }
    }
}

/// Sequence-number comparisons modulo 2³² (RFC 793 §3.3).
@inline(__always) func seqLess(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) < 0 }
@inline(__always) func seqLessOrEqual(_ a: UInt32, _ b: UInt32) -> Bool { Int32(bitPattern: a &- b) <= 0 }
@inline(__always) func seqMax(_ a: UInt32, _ b: UInt32) -> UInt32 { seqLess(a, b) ? b : a }
@inline(__always) func seqMin(_ a: UInt32, _ b: UInt32) -> UInt32 { seqLess(a, b) ? a : b }

/// A few disjoint ranges of sequence space, sorted, merged when they touch: the bytes a
/// receiver holds beyond a gap, or those a sender's peer reported by SACK. Fixed capacity
/// (a range that would need another slot is refused), so nothing is allocated.
public struct SequenceRanges {
    public static let capacity = 16
    /// Start and end of each range, interleaved.
    private var bounds: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                         UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
        (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    public private(set) var count = 0
    /// The range the last `insert` touched (reported first in SACK blocks, RFC 2018 §4).
    public private(set) var latest = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    public subscript(index: Int) -> (start: UInt32, end: UInt32) {
        let packed = withUnsafeBytes(of: bounds) { $0.load(fromByteOffset: index * 8, as: UInt64.self) }
        return (UInt32(truncatingIfNeeded: packed >> 32), UInt32(truncatingIfNeeded: packed))
    }

    private mutating func set(_ index: Int, _ range: (start: UInt32, end: UInt32)) {
        let packed = UInt64(range.start) << 32 | UInt64(range.end)
        withUnsafeMutableBytes(of: &bounds) { $0.storeBytes(of: packed, toByteOffset: index * 8, as: UInt64.self) }
    }

    private mutating func remove(at index: Int) {
        for i in index..<(count - 1) { set(i, self[i + 1]) }
        count -= 1
    }

    /// Adds `start..<end`, merging with ranges it overlaps or touches; false when it would
    /// need a slot and none is left.
    @discardableResult
    public mutating func insert(_ start: UInt32, _ end: UInt32) -> Bool {
        guard seqLess(start, end) else { return true }
        var newStart = start, newEnd = end
        var index = 0
        // Merge every range that overlaps or touches.
        while index < count {
            let range = self[index]
            if seqLessOrEqual(range.start, newEnd) && seqLessOrEqual(newStart, range.end) {
                newStart = seqMin(newStart, range.start)
                newEnd = seqMax(newEnd, range.end)
                remove(at: index)
            } else {
                index += 1
            }
        }
        guard count < Self.capacity else { return false }
        var position = count
        while position > 0, seqLess(newStart, self[position - 1].start) {
            set(position, self[position - 1])
            position -= 1
        }
        set(position, (newStart, newEnd))
        count += 1
        latest = position
        return true
    }

    /// Forgets everything below `sequence` (cumulatively acknowledged or delivered).
    public mutating func removeBelow(_ sequence: UInt32) {
        while count > 0, seqLessOrEqual(self[0].end, sequence) { remove(at: 0) }
        if count > 0, seqLess(self[0].start, sequence) { set(0, (sequence, self[0].end)) }
        if latest >= count { latest = 0 }
    }

    public mutating func removeAll() { count = 0; latest = 0 }

    /// The range containing `sequence`, if any.
    public func range(containing sequence: UInt32) -> (start: UInt32, end: UInt32)? {
        for index in 0..<count {
            let range = self[index]
            if seqLessOrEqual(range.start, sequence) && seqLess(sequence, range.end) { return range }
        }
        return nil
    }

    /// The first range starting above `sequence`.
    public func first(after sequence: UInt32) -> (start: UInt32, end: UInt32)? {
        for index in 0..<count where seqLess(sequence, self[index].start) { return self[index] }
        return nil
    }

    /// Bytes covered at or above `sequence`.
    public func bytes(above sequence: UInt32) -> UInt32 {
        var total: UInt32 = 0
        for index in 0..<count {
            let range = self[index]
            if seqLessOrEqual(range.end, sequence) { continue }
            total &+= range.end &- seqMax(range.start, sequence)
        }
        return total
    }

    /// The highest sequence number covered (exclusive), if any.
    public var highest: UInt32? { count == 0 ? nil : self[count - 1].end }
}

/// Which way an emitted frame leaves: relative to the packet that caused it (back out of
/// the port it arrived on, toward its sender, or onward out of the other one), or out of a
/// named port (frames a timer emits, which no packet caused).
public enum Egress: Equatable, Sendable {
    case back
    case onward
    /// The port whose packets carry this interface ID.
    case port(UInt32)
}

/// What the outbox counted.
public struct OutboxCounters: Sendable {
    /// Frames written for transmission.
    public var emitted: UInt64 = 0
    /// Frames that found the outbox full (not sent; the stack's peer retransmits).
    public var overflowed: UInt64 = 0
    /// Frames not built because the packet they answer travels in a tunnel or on a link
    /// type that cannot be written.
    public var unframeable: UInt64 = 0
    public init() {}
}

/// Frames the stages of one worker emit while processing a packet (RSTs, handshake
/// answers, replayed requests, ARP), in preallocated slots, for the port stage to send
/// after the packet's verdict. Nothing is allocated per frame.
public final class FrameOutbox {
    /// The largest frame a slot holds: an Ethernet frame with two VLAN tags and a
    /// 1,500-byte IP packet fits.
    public static let frameSize = 1536
    public let capacity: Int
    public private(set) var count = 0
    public private(set) var counters = OutboxCounters()
    private let storage: UnsafeMutableRawPointer
    private let lengths: UnsafeMutablePointer<Int>
    private let egresses: UnsafeMutablePointer<Egress>

    public init(capacity: Int = 64) {
        self.capacity = capacity
        storage = .allocate(byteCount: capacity * Self.frameSize, alignment: 16)
        lengths = .allocate(capacity: capacity)
        egresses = .allocate(capacity: capacity)
    }

    deinit {
        storage.deallocate()
        lengths.deallocate()
        egresses.deallocate()
    }

    /// Writes a frame of up to `frameSize` bytes with `write`, which returns its length
    /// (0: nothing written). False when the outbox is full (counted).
    @discardableResult
    @inline(__always)
    public func emit(_ egress: Egress, _ write: (UnsafeMutableRawBufferPointer) -> Int) -> Bool {
        guard count < capacity else {
            counters.overflowed &+= 1
            return false
        }
        let length = write(UnsafeMutableRawBufferPointer(start: storage + count * Self.frameSize, count: Self.frameSize))
        guard length > 0 else { return false }
        lengths[count] = length
        egresses[count] = egress
        count += 1
        counters.emitted &+= 1
        return true
    }

    /// Counts a frame that could not be framed for its link.
    public func countUnframeable() { counters.unframeable &+= 1 }

    /// Frame `index` and where it goes.
    @inline(__always)
    public func frame(_ index: Int) -> (bytes: UnsafeRawBufferPointer, egress: Egress) {
        (UnsafeRawBufferPointer(start: storage + index * Self.frameSize, count: lengths[index]), egresses[index])
    }

    /// Forgets the frames once sent.
    @inline(__always)
    public func removeAll() { count = 0 }
}

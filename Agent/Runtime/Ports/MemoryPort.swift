import MBoxCapture

/// A port in memory with a live port's face, as swift-nio's `EmbeddedChannel` is to a
/// socket: a test (or a fuzzer) queues frames, the real `PortLoop` receives them in bursts
/// and runs every stage, and what leaves — forwarded packets and frames the stages emit —
/// is kept in `sent` in the order a wire would carry it. The clock is the caller's.
public final class MemoryPort: PacketPort {
    public static let burstSize = 32

    /// A frame that left the port.
    public struct Sent: Equatable, Sendable {
        public var bytes: [UInt8]
        /// Forwarded (a received packet that went on) or emitted by a stage.
        public var forwarded: Bool
        public var timestamp: UInt64
    }

    public let name: String
    public let id: UInt16
    public let linkType: LinkType
    /// Frames waiting to be received, each with its time.
    private var queued: [(bytes: [UInt8], timestamp: UInt64)] = []
    private var nextQueued = 0
    /// The burst being processed: its frames' bytes live here until the next receive.
    private var burst: [(bytes: UnsafeMutableRawBufferPointer, timestamp: UInt64)] = []
    private var verdicts: [Disposition] = Array(repeating: .onward, count: MemoryPort.burstSize)
    private var tally = PortCounters()
    /// Frames that left this port, oldest first.
    public private(set) var sent: [Sent] = []
    /// Most frames kept in `sent`; more are counted and forgotten (a long soak stays bounded).
    public var sentLimit = 1 << 20
    /// Whether the port reports the end of its input once the queue is empty (a finite source,
    /// like a capture file); otherwise it stays live and empty polls go on.
    public var endsWhenEmpty: Bool
    public var clock: UInt64

    private enum Disposition { case onward, dropped, consumed }

    /// `clock`: the time of the first packets and of the stacks' timers until advanced.
    public init(name: String = "memory0", id: UInt16 = 0, linkType: LinkType = .ethernet, clock: UInt64 = 1_000_000_000,
                endsWhenEmpty: Bool = true) {
        self.name = name
        self.id = id
        self.linkType = linkType
        self.clock = clock
        self.endsWhenEmpty = endsWhenEmpty
    }

    deinit { releaseBurst() }

    /// Queues `frame` to be received, at `timestamp` (default: the port's clock then).
    public func enqueue(_ frame: [UInt8], at timestamp: UInt64? = nil) {
        queued.append((frame, timestamp ?? clock))
    }

    /// Queues every packet of a capture, with its recorded time.
    public func enqueue(contentsOf reader: CaptureFileReader) throws {
        while let packet = try reader.next() { queued.append((Array(packet.data), packet.timestamp)) }
    }

    /// Frames queued and not yet received.
    public var pending: Int { queued.count - nextQueued }

    /// Empties `sent` (and returns what it held).
    @discardableResult
    public func takeSent() -> [Sent] {
        defer { sent.removeAll() }
        return sent
    }

    public func receive() -> Int {
        releaseBurst()
        while burst.count < Self.burstSize, nextQueued < queued.count {
            let (frame, timestamp) = queued[nextQueued]
            // A copy of its own, so a stage that rewrites a packet in place does not touch the test's frame.
            let bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(frame.count, 1), alignment: 16)
            frame.withUnsafeBytes { bytes.copyMemory(from: $0) }
            burst.append((UnsafeMutableRawBufferPointer(rebasing: bytes[0..<frame.count]), timestamp))
            tally.rxPackets &+= 1
            tally.rxBytes &+= UInt64(frame.count)
            clock = max(clock, timestamp)
            nextQueued += 1
        }
        if nextQueued == queued.count {
            queued.removeAll(keepingCapacity: true)
            nextQueued = 0
        }
        return burst.count
    }

    public static var stampsArrival: Bool { false }

    public func packet(_ index: Int, timestamp: UInt64) -> CapturedPacket {
        let (bytes, time) = burst[index]
        return CapturedPacket(timestamp: time, data: UnsafeRawBufferPointer(bytes), originalLength: UInt32(bytes.count),
                              linkType: linkType, interfaceID: UInt32(id))
    }

    public func drop(_ index: Int) { verdicts[index] = .dropped }

    public func consume(_ index: Int) { verdicts[index] = .consumed }

    public func endBurst(forwardingTo peer: MemoryPort?) {
        for index in 0..<burst.count {
            switch verdicts[index] {
            case .dropped: tally.droppedByVerdict &+= 1
            case .onward: peer?.send(Sent(bytes: Array(burst[index].bytes), forwarded: true, timestamp: burst[index].timestamp))
            case .consumed: break
            }
            verdicts[index] = .onward
        }
    }

    @discardableResult
    public func transmit(copying frame: UnsafeRawBufferPointer) -> Bool {
        send(Sent(bytes: Array(frame), forwarded: false, timestamp: clock))
        return true
    }

    private func send(_ frame: Sent) {
        tally.txPackets &+= 1
        tally.txBytes &+= UInt64(frame.bytes.count)
        if sent.count < sentLimit { sent.append(frame) } else { tally.txRefused &+= 1 }
    }

    public func flush() {}

    public var counters: PortCounters { tally }

    public var isExhausted: Bool { endsWhenEmpty && pending == 0 }

    private func releaseBurst() {
        for (bytes, _) in burst { UnsafeMutableRawBufferPointer(start: bytes.baseAddress, count: max(bytes.count, 1)).deallocate() }
        burst.removeAll(keepingCapacity: true)
    }
}

import MBoxCapture

/// A capture file as a port: a pcap or pcapng file read in bursts (packets point into the
/// mapped file, no copy), or a pcap file written — the peer of a reading port, so what a
/// chain forwards (and the frames stages send onward) is recorded as a wire would carry it.
public final class CaptureFilePort: PacketPort {
    public static let burstSize = 32

    public let name: String
    public let id: UInt16
    private let reader: CaptureFileReader?
    private let writer: PcapWriter?
    private var burst: [CapturedPacket]
    private var verdicts: [Disposition]
    private var tally = PortCounters()
    public private(set) var isExhausted = false
    public private(set) var clock: UInt64 = 0
    /// Why reading stopped early (a damaged record), if it did; the packets before it were delivered.
    public private(set) var failure: Error?
    /// Why writing stopped (a full disk), if it did; frames after it were counted as refused.
    public private(set) var writeFailure: Error?

    private enum Disposition { case onward, dropped, consumed }

    /// Reads `path` (pcap or pcapng).
    public init(reading path: String, id: UInt16 = 0) throws {
        reader = try CaptureFileReader(path: path)
        writer = nil
        name = path
        self.id = id
        burst = []
        burst.reserveCapacity(Self.burstSize)
        verdicts = Array(repeating: .onward, count: Self.burstSize)
    }

    /// Writes what reaches the port to `path` (pcap with nanosecond times), opened in place.
    public init(writing path: String, linkType: LinkType = .ethernet, id: UInt16 = 1) throws {
        reader = nil
        writer = try PcapWriter(.file(path: path), linkType: linkType, nanosecond: true)
        name = path
        self.id = id
        isExhausted = true
        burst = []
        verdicts = []
    }

    /// The reader (for its progress and the records it skipped); nil on a writing port.
    public var source: CaptureFileReader? { reader }

    public func receive() -> Int {
        burst.removeAll(keepingCapacity: true)
        guard let reader, !isExhausted else { return 0 }
        while burst.count < Self.burstSize {
            let packet: CapturedPacket?
            do { packet = try reader.next() } catch {
                failure = error
                isExhausted = true
                break
            }
            guard let packet else {
                isExhausted = true
                break
            }
            burst.append(packet)
            tally.rxPackets &+= 1
            tally.rxBytes &+= UInt64(packet.data.count)
        }
        if let last = burst.last { clock = last.timestamp }
        return burst.count
    }

    @inline(__always)
    public func packet(_ index: Int, timestamp: UInt64) -> CapturedPacket { burst[index] }

    @inline(__always)
    public func drop(_ index: Int) { verdicts[index] = .dropped }

    @inline(__always)
    public func consume(_ index: Int) { verdicts[index] = .consumed }

    public func endBurst(forwardingTo peer: CaptureFilePort?) {
        for index in 0..<burst.count {
            switch verdicts[index] {
            case .dropped: tally.droppedByVerdict &+= 1
            case .onward: peer?.record(burst[index])
            case .consumed: break
            }
            verdicts[index] = .onward
        }
    }

    @discardableResult
    public func transmit(copying frame: UnsafeRawBufferPointer) -> Bool {
        guard let writer, writeFailure == nil else {
            tally.txRefused &+= 1
            return false
        }
        do {
            try writer.write(timestamp: clock, bytes: frame)
            tally.txPackets &+= 1
            tally.txBytes &+= UInt64(frame.count)
            return true
        } catch {
            writeFailure = error
            tally.txRefused &+= 1
            return false
        }
    }

    /// Writes a forwarded packet with its own time.
    private func record(_ packet: CapturedPacket) {
        clock = packet.timestamp
        transmit(copying: packet.data)
    }

    public func flush() {}

    /// Closes the written file (its buffer reaches the disk).
    public func close() throws {
        try writer?.close()
    }

    public var counters: PortCounters { tally }
}

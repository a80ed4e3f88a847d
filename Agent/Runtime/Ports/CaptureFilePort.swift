import MBoxCapture

/// A capture file as a port: a pcap or pcapng file read in bursts (packets point into the
/// mapped file, no copy), or a pcap file written — the peer of a reading port, so what a
/// chain forwards (and the frames stages send onward) is recorded as a wire would carry it.
public final class CaptureFilePort: PacketPort {
    public let name: String
    public let id: UInt16
    private let reader: CaptureFileReader?
    /// The same reader, used without a retain per record (the port holds it in `reader`).
    @usableFromInline let unretainedReader: Unmanaged<CaptureFileReader>?
    @usableFromInline let writer: PcapWriter?
    /// The burst handed out by the last `receive()` (`count` packets).
    @usableFromInline let burst: UnsafeMutablePointer<CapturedPacket>
    @usableFromInline var count = 0
    /// Records read per `receive()`.
    public let burstSize: Int
    /// The reader has nothing more (its end, or a damaged record).
    @usableFromInline var readerDone = false
    @usableFromInline let verdicts: UnsafeMutablePointer<Disposition>
    @usableFromInline var tally = PortCounters()
    @usableFromInline var clockValue: UInt64 = 0
    public var clock: UInt64 { clockValue }
    /// Why reading stopped early (a damaged record), if it did; the packets before it were delivered.
    public private(set) var failure: Error?
    /// Why writing stopped (a full disk), if it did; frames after it were counted as refused.
    public private(set) var writeFailure: Error?

    @usableFromInline enum Disposition { case onward, dropped, consumed }

    /// Reads `path` (pcap or pcapng).
    ///
    /// `burstSize`: records per `receive()`. One by default: a record is then read just
    /// before its packet is processed, when the work on the one before has brought its
    /// bytes into the cache (reading a burst of records first waits on each record's
    /// first touch in turn: measured 15-25 % slower on the IDS chain). The loop still
    /// takes a burst's worth of packets per round.
    public init(reading path: String, id: UInt16 = 0, burstSize: Int = 1) throws {
        precondition(burstSize > 0, "a burst holds a packet")
        let reader = try CaptureFileReader(path: path)
        self.reader = reader
        unretainedReader = Unmanaged.passUnretained(reader)
        writer = nil
        name = path
        self.id = id
        self.burstSize = burstSize
        burst = .allocate(capacity: self.burstSize)
        verdicts = .allocate(capacity: self.burstSize)
        verdicts.initialize(repeating: .onward, count: self.burstSize)
    }

    /// Writes what reaches the port to `path` (pcap with nanosecond times), opened in place.
    public init(writing path: String, linkType: LinkType = .ethernet, id: UInt16 = 1) throws {
        reader = nil
        unretainedReader = nil
        writer = try PcapWriter(.file(path: path), linkType: linkType, nanosecond: true)
        name = path
        self.id = id
        readerDone = true
        burstSize = 1
        burst = .allocate(capacity: 1)
        verdicts = .allocate(capacity: 1)
        verdicts.initialize(to: .onward)
    }

    deinit {
        // Packets are plain values (pointers into the mapping): nothing to deinitialize.
        burst.deallocate()
        verdicts.deallocate()
    }

    /// The reader (for its progress and the records it skipped); nil on a writing port.
    public var source: CaptureFileReader? { reader }

    public static var stampsArrival: Bool { false }

    /// Nothing more to deliver: the reader is done.
    public var isExhausted: Bool { readerDone }

    @inlinable
    public func receive() -> Int {
        count = 0
        guard !readerDone, let unretainedReader else { return 0 }
        while count < burstSize {
            let packet: CapturedPacket?
            do { packet = try unretainedReader._withUnsafeGuaranteedRef { try $0.next() } } catch {
                stopReading(error)
                break
            }
            guard let packet else {
                readerDone = true
                break
            }
            (burst + count).initialize(to: packet)
            count += 1
            tally.rxBytes &+= UInt64(packet.data.count)
        }
        if count > 0 {
            clockValue = burst[count - 1].timestamp
            tally.rxPackets &+= UInt64(count)
        }
        return count
    }

    @inlinable @inline(__always)
    public func packet(_ index: Int, timestamp: UInt64) -> CapturedPacket { burst[index] }

    @inlinable
    public func drop(_ index: Int) { verdicts[index] = .dropped }

    @inlinable @inline(__always)
    public func consume(_ index: Int) { verdicts[index] = .consumed }

    @inlinable
    public func endBurst(forwardingTo peer: CaptureFilePort?) {
        for index in 0..<count {
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

    /// A damaged record: what came before it was delivered; nothing after it will be.
    @usableFromInline
    func stopReading(_ error: Error) {
        failure = error
        readerDone = true
    }

    /// Writes a forwarded packet with its own time.
    @usableFromInline
    func record(_ packet: CapturedPacket) {
        clockValue = packet.timestamp
        transmit(copying: packet.data)
    }

    @inlinable
    public func flush() {}

    /// Closes the written file (its buffer reaches the disk).
    public func close() throws {
        try writer?.close()
    }

    public var counters: PortCounters { tally }
}

import CDPDK
import Dispatch
import MBoxCapture

/// A DPDK ethdev port with burst receive and transmit, behind the same packet view the
/// capture reader gives (`CapturedPacket`), so every stage above is unchanged. Packets
/// point into mbufs; a burst's mbufs must be sent or released before the next receive.
public final class DPDKPort {
    public static let burstSize = 32
    /// Room for one packet copied out of several segments: an IP packet of 64 KiB with
    /// its link headers.
    public static let largestPacket = 65_600

    public let id: UInt16
    public let name: String
    /// The RX/TX queue pair this object receives from and sends on.
    public let queue: UInt16
    /// Queue pairs the port was started with (several: spread by a symmetric RSS key).
    public let queueCount: Int
    /// For the objects of queues 1…: the object that started the port (kept alive until
    /// every queue is done with it).
    private let owner: DPDKPort?
    /// What this queue pair counted, and (on the queue-0 object) every queue pair's, made
    /// up front so another thread can read them while the port runs.
    private let tally: LaneCounters
    public let laneCounters: [LaneCounters]
    /// This queue pair's counts.
    public var counters: PortCounters { tally.snapshot }
    private let pool: UnsafeMutableRawPointer
    // The last burst, one entry per packet (read by the inlined per-packet accessors).
    @usableFromInline let mbufs: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    @usableFromInline let data: UnsafeMutablePointer<UnsafePointer<UInt8>?>
    @usableFromInline let lengths: UnsafeMutablePointer<UInt32>
    @usableFromInline let rss: UnsafeMutablePointer<UInt32>
    @usableFromInline let drops: UnsafeMutablePointer<Bool>
    /// Mbufs queued for transmission on this port, and mbufs to free at the end of a burst.
    private let pending: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    private var pendingCount = 0
    private let freed: UnsafeMutablePointer<UnsafeMutableRawPointer?>
    /// Where packets in several segments are copied whole: a slot per packet of a burst,
    /// valid until the next `receive()`.
    private let scratch: UnsafeMutablePointer<UInt8>
    /// Packets in the last burst, and how many of them were copied into `scratch`.
    public private(set) var count = 0
    public private(set) var copiedInLastBurst = 0

    /// Every port EAL probed, by device name.
    public static func names() -> [String] {
        (0..<mbox_port_count()).map { port in
            var name = [CChar](repeating: 0, count: 64)
            _ = mbox_port_name(port, &name, name.count)
            return text(name)
        }
    }

    /// How many queue pairs the port named `name` (or the first) can spread by RSS; 0
    /// without RSS (the software distributor then feeds several workers).
    public static func rssQueues(name: String?) -> Int {
        let names = Self.names()
        guard let index = name.map({ names.firstIndex(of: $0) }) ?? (names.isEmpty ? nil : 0) else { return 0 }
        return Int(mbox_port_rss_queues(UInt16(index)))
    }

    /// Opens the port named `name` (e.g. "net_pcap0", or a PCI address), or the first one,
    /// with `queues` RX/TX queue pairs (this object is queue 0; `lane(_:)` gives the others).
    public init(name: String?, queues: Int = 1, mbufs poolSize: UInt32 = 8191, descriptors: UInt16 = 1024) throws {
        let names = Self.names()
        guard !names.isEmpty else { throw DPDKError("DPDK found no port (give a --vdev=… or a NIC's PCI address)") }
        let index: Int
        if let name {
            guard let found = names.firstIndex(of: name) else {
                throw DPDKError("no DPDK port named \(name) (ports: \(names.joined(separator: ", ")))")
            }
            index = found
        } else {
            index = 0
        }
        id = UInt16(index)
        self.name = names[index]
        queue = 0
        queueCount = queues
        laneCounters = (0..<queues).map { _ in LaneCounters() }
        tally = laneCounters[0]
        owner = nil
        if queues > 1 {
            let capable = Int(mbox_port_rss_queues(id))
            guard capable >= queues else {
                throw DPDKError("\(names[index]) cannot spread \(queues) queues by RSS (it offers \(capable))")
            }
        }
        var error = [CChar](repeating: 0, count: 256)
        guard let pool = mbox_mempool_create("mbox_pool_\(index)", poolSize * UInt32(queues), 256, 2048, &error, error.count) else {
            throw DPDKError(text(error) + " (with --no-huge, keep pools small or raise -m)")
        }
        self.pool = pool
        guard mbox_port_start(id, UInt16(queues), UInt16(queues), descriptors, pool, &error, error.count) == 0 else {
            throw DPDKError(text(error))
        }
        (mbufs, data, lengths, rss, drops, pending, freed) = Self.burstBuffers()
        scratch = .allocate(capacity: Self.burstSize * Self.largestPacket)
    }

    private init(queue: UInt16, of owner: DPDKPort) {
        tally = owner.laneCounters[Int(queue)]
        laneCounters = []
        id = owner.id
        name = owner.name
        self.queue = queue
        queueCount = owner.queueCount
        self.owner = owner
        pool = owner.pool
        (mbufs, data, lengths, rss, drops, pending, freed) = Self.burstBuffers()
        scratch = .allocate(capacity: Self.burstSize * Self.largestPacket)
    }

    /// One burst's worth of mbuf pointers, data views, lengths, RSS hashes, drop marks, TX
    /// queue and free list.
    private static func burstBuffers() -> (UnsafeMutablePointer<UnsafeMutableRawPointer?>, UnsafeMutablePointer<UnsafePointer<UInt8>?>,
                                           UnsafeMutablePointer<UInt32>, UnsafeMutablePointer<UInt32>, UnsafeMutablePointer<Bool>,
                                           UnsafeMutablePointer<UnsafeMutableRawPointer?>, UnsafeMutablePointer<UnsafeMutableRawPointer?>) {
        let drops = UnsafeMutablePointer<Bool>.allocate(capacity: burstSize)
        drops.initialize(repeating: false, count: burstSize)
        return (.allocate(capacity: burstSize), .allocate(capacity: burstSize), .allocate(capacity: burstSize),
                .allocate(capacity: burstSize), drops, .allocate(capacity: burstSize), .allocate(capacity: burstSize))
    }

    /// The object for queue pair `index` (0: this one); each is used by one thread only.
    public func lane(_ index: Int) -> DPDKPort {
        precondition(owner == nil && index < queueCount, "lanes come from the port's queue-0 object")
        return index == 0 ? self : DPDKPort(queue: UInt16(index), of: self)
    }

    deinit {
        flush()
        if owner == nil { mbox_port_stop(id) }
        mbufs.deallocate()
        data.deallocate()
        lengths.deallocate()
        rss.deallocate()
        drops.deallocate()
        pending.deallocate()
        freed.deallocate()
        scratch.deallocate()
    }

    /// Receives up to a burst; the packets are `packet(0..<count)`. Each is forwarded at
    /// `endBurst` unless marked with `drop(_:)` or taken. A packet that arrived in several
    /// segments is seen whole through a copy that lasts until the next `receive()`.
    public func receive() -> Int {
        count = Int(mbox_rx_burst(id, queue, mbufs, UInt16(Self.burstSize)))
        copiedInLastBurst = 0
        if count > 0 {
            copiedInLastBurst = Int(mbox_burst_views(mbufs, UInt16(count), data, lengths, rss, scratch, UInt32(Self.largestPacket)))
            LaneCounters.add(tally.rxPackets, count)
            if copiedInLastBurst > 0 { LaneCounters.add(tally.rxMultiSegment, copiedInLastBurst) }
        }
        return count
    }

    /// Packet `index` of the last burst, timed `timestamp`.
    @inlinable @inline(__always)
    public func packet(_ index: Int, timestamp: UInt64) -> CapturedPacket {
        CapturedPacket(timestamp: timestamp, data: UnsafeRawBufferPointer(start: data[index], count: Int(lengths[index])),
                       originalLength: UInt32(lengths[index]), linkType: .ethernet, interfaceID: UInt32(id))
    }

    /// The device's RSS hash of packet `index` (0 when it gave none).
    @inlinable @inline(__always)
    public func rssHash(_ index: Int) -> UInt32 { rss[index] }

    /// Marks packet `index` of the last burst as dropped by a verdict.
    @inlinable @inline(__always)
    public func drop(_ index: Int) { drops[index] = true }

    /// Frees packet `index` of the last burst now: a stage took it (not a verdict drop).
    @inline(__always)
    public func consume(_ index: Int) {
        guard mbufs[index] != nil else { return }
        mbox_free_bulk(mbufs + index, 1)
        mbufs[index] = nil
    }

    /// Ends the burst, once for all its packets: those not dropped (nor taken) leave by
    /// `peer` (queued, sent in bursts; inline mode) or are consumed (passive mode); the
    /// rest are freed together, drops counted.
    public func endBurst(forwardingTo peer: DPDKPort?) {
        var freeCount = 0
        var droppedCount = 0
        for index in 0..<count {
            let dropped = drops[index]
            drops[index] = false
            guard let mbuf = mbufs[index] else { continue }
            mbufs[index] = nil
            if dropped {
                droppedCount += 1
                freed[freeCount] = mbuf
                freeCount += 1
            } else if let peer {
                peer.enqueue(mbuf)
            } else {
                freed[freeCount] = mbuf
                freeCount += 1
            }
        }
        if freeCount > 0 { mbox_free_bulk(freed, UInt32(freeCount)) }
        if droppedCount > 0 { LaneCounters.add(tally.droppedByVerdict, droppedCount) }
        peer?.flush()
        count = 0
    }

    /// Takes packet `index`'s mbuf out of the burst (to hand it to another thread); it must
    /// come back through `send(_:)` or `free(_:dropped:)` on the thread that owns the ports.
    @inline(__always)
    public func take(_ index: Int) -> UnsafeMutableRawPointer? {
        defer { mbufs[index] = nil }
        return mbufs[index]
    }

    /// Queues a taken mbuf for transmission on this port.
    @inline(__always)
    public func send(_ mbuf: UnsafeMutableRawPointer) { enqueue(mbuf) }

    /// Frees a taken mbuf, counting it on this port when a verdict dropped it.
    @inline(__always)
    public func free(_ mbuf: UnsafeMutableRawPointer, dropped: Bool) {
        var pointer: UnsafeMutableRawPointer? = mbuf
        mbox_free_bulk(&pointer, 1)
        if dropped { LaneCounters.add(tally.droppedByVerdict, 1) }
    }

    /// Queues a copy of `frame` (a frame a stage emitted) for transmission on this port;
    /// false (counted as refused) when the pool has no mbuf left.
    @discardableResult
    public func transmit(copying frame: UnsafeRawBufferPointer) -> Bool {
        guard let mbuf = makeMbuf(copying: frame) else {
            LaneCounters.add(tally.txRefused, 1)
            return false
        }
        enqueue(mbuf)
        return true
    }

    /// A new mbuf from this port's pool holding a copy of `frame` (safe from any thread;
    /// it must then reach a port through `send(_:)` or be freed).
    public func makeMbuf(copying frame: UnsafeRawBufferPointer) -> UnsafeMutableRawPointer? {
        guard let base = frame.baseAddress, frame.count <= Int(UInt16.max) else { return nil }
        return mbox_mbuf_copy(pool, base.assumingMemoryBound(to: UInt8.self), UInt16(frame.count))
    }

    @inline(__always)
    private func enqueue(_ mbuf: UnsafeMutableRawPointer?) {
        pending[pendingCount] = mbuf
        pendingCount += 1
        if pendingCount == Self.burstSize { flush() }
    }

    /// Sends what is queued; what the device refuses is freed and counted.
    public func flush() {
        guard pendingCount > 0 else { return }
        let sent = Int(mbox_tx_burst(id, queue, pending, UInt16(pendingCount)))
        LaneCounters.add(tally.txPackets, sent)
        if sent < pendingCount {
            mbox_free_bulk(pending + sent, UInt32(pendingCount - sent))
            LaneCounters.add(tally.txRefused, pendingCount - sent)
        }
        pendingCount = 0
    }

    /// The device's own counters for port `id`, all queues together (what it received,
    /// sent, missed and could not buffer); nil when it gives none. Safe to call from another
    /// thread while the port runs, as DPDK's telemetry does.
    public static func deviceCounters(port id: UInt16) -> PortCounters? {
        var stats = mbox_port_stats()
        guard mbox_port_stats(id, &stats) == 0 else { return nil }
        return PortCounters(rxPackets: stats.rx_packets, txPackets: stats.tx_packets, rxBytes: stats.rx_bytes,
                            txBytes: stats.tx_bytes, rxMissed: stats.rx_missed, rxErrors: stats.rx_errors,
                            txErrors: stats.tx_errors, rxNoMbuf: stats.rx_no_mbuf)
    }

    /// The device's own counters (the whole port's), with this queue's.
    public func readCounters() -> PortCounters {
        var result = counters
        if let device = Self.deviceCounters(port: id) {
            result.rxMissed = device.rxMissed
            result.rxErrors = device.rxErrors
            result.txErrors = device.txErrors
            result.rxNoMbuf = device.rxNoMbuf
        }
        return result
    }

    /// Writes `frames` (in turn) into the data room of every mbuf of the port's pool, for
    /// devices that never write packet data: net_null's packets then carry these frames
    /// instead of zeros (benchmarks). Returns how many mbufs were written.
    @discardableResult
    public func preload(frames: [[UInt8]]) -> Int {
        guard !frames.isEmpty else { return 0 }
        let lengths = frames.map { UInt16(min($0.count, Int(UInt16.max))) }
        let joined = frames.flatMap { $0 }
        return joined.withUnsafeBufferPointer { bytes in
            var offset = 0
            let pointers: [UnsafePointer<UInt8>?] = frames.map { frame in
                defer { offset += frame.count }
                return bytes.baseAddress! + offset
            }
            return Int(mbox_mempool_fill(pool, pointers, lengths, UInt32(frames.count)))
        }
    }

    /// Mbufs free in the port's pool.
    public var freeMbufs: Int { Int(mbox_mempool_available(pool)) }
}

import MBoxPacket

/// Reassembly limits and policy.
public struct ReassemblyConfiguration: Sendable {
    /// Which copy of out-of-order bytes wins when segments overlap with different bytes,
    /// for receivers not given a policy of their own at `open` (bytes already delivered
    /// are never rewritten).
    public var overlapPolicy: TargetPolicy = .first
    /// Size of a large out-of-order block, and of a small one (for segments that fit it;
    /// an eighth of the store is small blocks).
    public var blockSize = 2048
    public var smallBlockSize = 256
    /// Most out-of-order bytes (counted as the blocks they take) buffered per flow direction.
    public var perDirectionLimit = 256 * 1024
    /// Most out-of-order bytes buffered for all flows together (preallocated).
    public var globalLimit = 64 * 1024 * 1024
    /// Segments starting further than this past the next expected byte are refused.
    public var maximumReach: UInt32 = 1 << 30
    /// Which directions are reassembled (a chain that reads only what clients send
    /// does not pay for the servers' streams).
    public var toServer = true
    public var toClient = true

    public init() {}
}

/// What reassembly counted.
public struct ReassemblyCounters: Sendable {
    public var deliveredBytes: UInt64 = 0
    public var gaps: UInt64 = 0
    public var gapBytes: UInt64 = 0
    /// Retransmitted bytes already delivered or buffered.
    public var duplicateBytes: UInt64 = 0
    /// Overlapping bytes whose content differed from the copy already held.
    public var conflictingBytes: UInt64 = 0
    public var bufferedSegments: UInt64 = 0
    /// Bytes refused because a direction's out-of-order limit was reached.
    public var droppedOverFlowLimit: UInt64 = 0
    /// Bytes refused because all out-of-order storage was in use.
    public var droppedOverGlobalLimit: UInt64 = 0
    /// Bytes given up by directions holding more than their share of a full store, so that
    /// one holding less could buffer (junk flows cannot starve the others).
    public var evictedBytes: UInt64 = 0
    public var droppedOutOfReach: UInt64 = 0
    /// Bytes arriving after the direction was closed.
    public var droppedAfterClose: UInt64 = 0
}

/// Per-direction reassembly of TCP byte streams for every flow slot.
///
/// In-order bytes go out as chunks pointing into the packet itself (no copy). Bytes
/// ahead of a hole are copied into preallocated blocks and go out once the hole fills,
/// the receiver acknowledges past it (the hole becomes a gap), or the flow closes.
/// Bytes already delivered are never delivered twice.
public final class StreamReassembler {
    public let configuration: ReassemblyConfiguration
    public private(set) var counters = ReassemblyCounters()
    /// Anomalies of the segment just accepted; read and cleared by `takeAnomalies()`.
    private var anomalies = TCPAnomalies()

    struct Direction {
        var nextSequence: UInt32 = 0
        var finSequence: UInt32 = 0
        var offset: UInt64 = 0
        var head: Int32 = -1
        /// Bytes of the blocks it holds, and where it is in `holders` (-1: holds none).
        var bufferedBytes = 0
        var holder: Int32 = -1
        /// How the receiving host resolves overlapping segments.
        var policy = TargetPolicy.first
        var started = false
        var sawFIN = false
        var closed = false
    }

    struct Flow {
        var flowID: UInt64 = 0
        var toServer = Direction()
        var toClient = Direction()
    }

    private let flows: UnsafeMutablePointer<Flow>
    private let capacity: Int
    private var store: SegmentStore
    private var output = ChunkBuffer()
    /// Nodes delivered during this packet; freed at the next `beginPacket()` so the
    /// chunks pointing into them stay valid until then.
    private var delivered: Int32 = -1
    /// Directions holding out-of-order bytes, as `slot * 2 + (toClient ? 1 : 0)`: where a
    /// full store looks for bytes to give up.
    private var holders: [Int32] = []
    private var probe: UInt64 = 0x9E37_79B9_7F4A_7C15

    public init(capacity: Int, configuration: ReassemblyConfiguration = ReassemblyConfiguration()) {
        self.configuration = configuration
        self.capacity = capacity
        flows = .allocate(capacity: capacity)
        flows.initialize(repeating: Flow(), count: capacity)
        store = SegmentStore(largeSize: configuration.blockSize, smallSize: min(configuration.smallBlockSize, configuration.blockSize),
                             totalBytes: configuration.globalLimit)
    }

    deinit {
        flows.deallocate()
        store.deallocate()
        output.deallocate()
    }

    /// Chunks produced since the last `beginPacket()`, in delivery order.
    public var chunks: UnsafeBufferPointer<StreamChunk> { output.elements }

    /// Bytes of out-of-order storage in use (as the blocks holding them), and in all.
    public var bytesInUse: Int { store.totalBytes - store.freeBytes }
    public var storeBytes: Int { store.totalBytes }

    /// Starts a new packet: forgets the previous chunks and frees their storage.
    @inline(__always)
    public func beginPacket() {
        output.removeAll()
        if delivered >= 0 {
            store.release(chain: delivered)
            delivered = -1
        }
    }

    /// What the segments since the last call showed (overlaps with other bytes, limits).
    @inline(__always)
    public func takeAnomalies() -> TCPAnomalies {
        defer { anomalies = [] }
        return anomalies
    }

    /// Starts tracking a new flow in `slot`, dropping anything the slot held. `policies`:
    /// how the server (receiving `toServer`) and the client resolve overlapping segments
    /// (the configuration's `overlapPolicy` for both when nil).
    public func open(slot: Int32, flowID: UInt64, policies: (toServer: TargetPolicy, toClient: TargetPolicy)? = nil) {
        let flow = flows + Int(slot)
        release(&flow.pointee.toServer)
        release(&flow.pointee.toClient)
        flow.pointee = Flow(flowID: flowID)
        flow.pointee.toServer.policy = policies?.toServer ?? configuration.overlapPolicy
        flow.pointee.toClient.policy = policies?.toClient ?? configuration.overlapPolicy
    }

    /// The sequence number of the direction's first byte (ISN + 1 once the SYN is seen).
    public func setInitialSequence(slot: Int32, direction: StreamDirection, _ sequence: UInt32) {
        withDirection(slot, direction) { d in
            guard !d.started else { return }
            d.started = true
            d.nextSequence = sequence
        }
    }

    /// New segment payload from the packet. `sequence` is the first payload byte's number.
    @inline(__always)
    public func accept(slot: Int32, direction: StreamDirection, sequence: UInt32, payload: UnsafeRawBufferPointer) {
        guard payload.count > 0 else { return }
        let flow = flows + Int(slot)
        if direction == .toServer {
            accept(&flow.pointee.toServer, flow.pointee.flowID, slot, direction, sequence, payload)
        } else {
            accept(&flow.pointee.toClient, flow.pointee.flowID, slot, direction, sequence, payload)
        }
    }

    /// The direction's sender sent FIN at `sequence`: the stream ends there.
    public func setFIN(slot: Int32, direction: StreamDirection, sequence: UInt32) {
        withDirection(slot, direction) { d in
            guard !d.sawFIN else { return }
            d.sawFIN = true
            d.finSequence = sequence
            if !d.started { d.started = true; d.nextSequence = sequence }
        }
    }

    /// The direction's receiver acknowledged everything before `acknowledgment`: bytes
    /// still missing below it were lost to the monitor and become a gap.
    @inline(__always)
    public func acknowledge(slot: Int32, direction: StreamDirection, _ acknowledgment: UInt32) {
        let flow = flows + Int(slot)
        if direction == .toServer {
            guard needsGap(flow.pointee.toServer, acknowledgment) else { return }
            fillGaps(&flow.pointee.toServer, flow.pointee.flowID, slot, direction, upTo: acknowledgment)
        } else {
            guard needsGap(flow.pointee.toClient, acknowledgment) else { return }
            fillGaps(&flow.pointee.toClient, flow.pointee.flowID, slot, direction, upTo: acknowledgment)
        }
    }

    /// The flow ended: deliver what is buffered, with gaps for what never came, and
    /// refuse anything later.
    public func close(slot: Int32) {
        let flow = flows + Int(slot)
        let flowID = flow.pointee.flowID
        close(&flow.pointee.toServer, flowID, slot, .toServer)
        close(&flow.pointee.toClient, flowID, slot, .toClient)
    }

    /// Stream offset reached in a direction (bytes delivered plus gaps).
    public func offset(slot: Int32, direction: StreamDirection) -> UInt64 {
        direction == .toServer ? flows[Int(slot)].toServer.offset : flows[Int(slot)].toClient.offset
    }

    /// Out-of-order bytes (as the blocks holding them) buffered for a direction.
    public func bufferedBytes(slot: Int32, direction: StreamDirection) -> Int {
        direction == .toServer ? flows[Int(slot)].toServer.bufferedBytes : flows[Int(slot)].toClient.bufferedBytes
    }

    // MARK: - Per direction

    @inline(__always)
    private func withDirection(_ slot: Int32, _ direction: StreamDirection, _ body: (inout Direction) -> Void) {
        if direction == .toServer { body(&flows[Int(slot)].toServer) } else { body(&flows[Int(slot)].toClient) }
    }

    @inline(__always)
    private func accept(_ d: inout Direction, _ flowID: UInt64, _ slot: Int32, _ direction: StreamDirection,
                        _ sequence: UInt32, _ payload: UnsafeRawBufferPointer) {
        if d.closed {
            counters.droppedAfterClose &+= UInt64(payload.count)
            return
        }
        if !d.started {
            d.started = true
            d.nextSequence = sequence
        }
        var start = sequence
        var bytes = payload
        let ahead = SequenceNumber.distance(sequence, d.nextSequence)
        if ahead < 0 {
            // Starts before the next expected byte: that part was delivered already.
            let already = Int(-Int64(ahead))
            if already >= bytes.count {
                counters.duplicateBytes &+= UInt64(bytes.count)
                return
            }
            counters.duplicateBytes &+= UInt64(already)
            bytes = UnsafeRawBufferPointer(rebasing: bytes[already...])
            start = d.nextSequence
        } else if UInt32(ahead) > configuration.maximumReach {
            counters.droppedOutOfReach &+= UInt64(bytes.count)
            return
        }
        if start == d.nextSequence,
           d.head < 0 || Int(SequenceNumber.distance(store.seq(d.head), start)) >= bytes.count {
            // The common case: in order and clear of anything buffered. No copy.
            emit(&d, flowID, slot, direction, bytes.baseAddress!, bytes.count)
        } else {
            insert(&d, key: slot &* 2 &+ (direction == .toServer ? 0 : 1), start, bytes, segmentStart: sequence)
        }
        drain(&d, flowID, slot, direction)
    }

    @inline(__always)
    private func emit(_ d: inout Direction, _ flowID: UInt64, _ slot: Int32, _ direction: StreamDirection,
                      _ bytes: UnsafeRawPointer?, _ count: Int) {
        output.append(StreamChunk(flowID: flowID, slot: slot, direction: direction, offset: d.offset,
                                  length: count, bytes: bytes))
        d.offset &+= UInt64(count)
        d.nextSequence &+= UInt32(truncatingIfNeeded: count)
        if bytes == nil {
            counters.gaps &+= 1
            counters.gapBytes &+= UInt64(count)
        } else {
            counters.deliveredBytes &+= UInt64(count)
        }
    }

    /// Delivers buffered nodes that now continue the stream.
    @inline(__always)
    private func drain(_ d: inout Direction, _ flowID: UInt64, _ slot: Int32, _ direction: StreamDirection) {
        while d.head >= 0 {
            let node = d.head
            let ahead = SequenceNumber.distance(store.seq(node), d.nextSequence)
            if ahead > 0 { return }
            let length = store.len(node)
            let already = Int(-Int64(ahead))
            d.head = store.next(node)
            charge(&d, key: slot &* 2 &+ (direction == .toServer ? 0 : 1), -store.capacity(node))
            if already < length {
                emit(&d, flowID, slot, direction, UnsafeRawPointer(store.data(node) + already), length - already)
            }
            store.setNext(node, delivered)
            delivered = node
        }
    }

    /// Puts `bytes` (starting at `start`, after the next expected byte or overlapping
    /// buffered nodes) into the sorted list; overlaps follow the policy.
    private func insert(_ d: inout Direction, key: Int32, _ start: UInt32, _ bytes: UnsafeRawBufferPointer, segmentStart: UInt32) {
        let base = d.nextSequence
        // The whole segment as sent (before what was already delivered was cut off), for
        // the receiver's overlap policy.
        let segment = Int64(SequenceNumber.distance(segmentStart, base))..<(Int64(SequenceNumber.distance(start, base)) + Int64(bytes.count))
        let end = Int64(SequenceNumber.distance(start, base)) + Int64(bytes.count)
        var cursor = Int64(SequenceNumber.distance(start, base))
        var previous: Int32 = -1
        var node = d.head
        counters.bufferedSegments &+= 1
        while cursor < end {
            let nodeStart = node >= 0 ? Int64(SequenceNumber.distance(store.seq(node), base)) : end
            if nodeStart > cursor {
                // Uncovered bytes before `node` (or at the tail): new blocks.
                let pieceEnd = min(nodeStart, end)
                guard let last = insertPieces(&d, key: key, after: previous, before: node, base: base,
                                              from: cursor, to: pieceEnd, source: bytes, sourceStart: start,
                                              segment: (segmentStart, start &+ UInt32(truncatingIfNeeded: bytes.count)))
                else { return }
                previous = last
                cursor = pieceEnd
                continue
            }
            let nodeEnd = nodeStart + Int64(store.len(node))
            if nodeEnd > cursor {
                // Overlap with a buffered node.
                let overlapEnd = min(nodeEnd, end)
                let count = Int(overlapEnd - cursor)
                let held = store.data(node) + Int(cursor - nodeStart)
                let incoming = bytes.baseAddress! + Int(cursor - Int64(SequenceNumber.distance(start, base)))
                if memcmp(held, incoming, count) != 0 {
                    counters.conflictingBytes &+= UInt64(count)
                    anomalies.insert(.overlapDifferentData)
                    if d.policy != .first {
                        let (heldStart, heldEnd) = store.segment(node)
                        let older = Int64(SequenceNumber.distance(heldStart, base))..<Int64(SequenceNumber.distance(heldEnd, base))
                        if d.policy.newerSegmentWins(newer: segment, older: older) { held.copyMemory(from: incoming, byteCount: count) }
                    }
                } else {
                    counters.duplicateBytes &+= UInt64(count)
                }
                cursor = overlapEnd
            }
            previous = node
            node = store.next(node)
        }
    }

    /// Copies `[from, to)` (offsets relative to `base`) into as many blocks as needed and
    /// links them between `previous` and `following`. Returns the last block linked, or
    /// nil when a limit refused the rest (counted).
    private func insertPieces(_ d: inout Direction, key: Int32, after previous: Int32, before following: Int32, base: UInt32,
                              from: Int64, to: Int64, source: UnsafeRawBufferPointer, sourceStart: UInt32,
                              segment: (UInt32, UInt32)) -> Int32? {
        var last = previous
        var cursor = from
        let sourceOffset = Int64(SequenceNumber.distance(sourceStart, base))
        while cursor < to {
            let count = Int(min(to - cursor, Int64(store.largeSize)))
            let cost = count <= store.smallSize ? store.smallSize : store.largeSize
            guard d.bufferedBytes + cost <= configuration.perDirectionLimit else {
                counters.droppedOverFlowLimit &+= UInt64(to - cursor)
                anomalies.insert(.reassemblyLimit)
                return nil
            }
            let sequence = base &+ UInt32(truncatingIfNeeded: cursor)
            let bytes = source.baseAddress! + Int(cursor - sourceOffset)
            var allocated = store.allocate(seq: sequence, from: bytes, count: count, segment: segment)
            if allocated == nil, makeRoom(for: key, holding: d.bufferedBytes, need: cost) {
                allocated = store.allocate(seq: sequence, from: bytes, count: count, segment: segment)
            }
            guard let node = allocated else {
                counters.droppedOverGlobalLimit &+= UInt64(to - cursor)
                anomalies.insert(.reassemblyLimit)
                return nil
            }
            charge(&d, key: key, store.capacity(node))
            store.setNext(node, following)
            if last >= 0 { store.setNext(last, node) } else { d.head = node }
            last = node
            cursor += Int64(count)
        }
        return last
    }

    @inline(__always)
    private func needsGap(_ d: Direction, _ acknowledgment: UInt32) -> Bool {
        d.started && !d.closed && SequenceNumber.isAfter(acknowledgment, d.nextSequence)
    }

    /// Emits gaps and buffered data up to `limit` (an acknowledgment, or the FIN).
    private func fillGaps(_ d: inout Direction, _ flowID: UInt64, _ slot: Int32, _ direction: StreamDirection,
                          upTo acknowledgment: UInt32) {
        var limit = acknowledgment
        // An acknowledgment of the FIN covers one sequence number that is not data.
        if d.sawFIN, SequenceNumber.isAfter(limit, d.finSequence) { limit = d.finSequence }
        while SequenceNumber.isAfter(limit, d.nextSequence) {
            var gapEnd = limit
            if d.head >= 0, SequenceNumber.isAfter(limit, store.seq(d.head)) { gapEnd = store.seq(d.head) }
            let missing = Int(SequenceNumber.distance(gapEnd, d.nextSequence))
            if missing > 0 { emit(&d, flowID, slot, direction, nil, missing) }
            drain(&d, flowID, slot, direction)
        }
    }

    private func close(_ d: inout Direction, _ flowID: UInt64, _ slot: Int32, _ direction: StreamDirection) {
        guard d.started, !d.closed else {
            d.closed = true
            return
        }
        // Everything buffered goes out, with gaps for the holes between.
        while d.head >= 0 {
            let missing = Int(SequenceNumber.distance(store.seq(d.head), d.nextSequence))
            if missing > 0 { emit(&d, flowID, slot, direction, nil, missing) }
            drain(&d, flowID, slot, direction)
        }
        if d.sawFIN, SequenceNumber.isAfter(d.finSequence, d.nextSequence) {
            emit(&d, flowID, slot, direction, nil, Int(SequenceNumber.distance(d.finSequence, d.nextSequence)))
        }
        d.closed = true
    }

    private func release(_ d: inout Direction) {
        if d.head >= 0 {
            store.release(chain: d.head)
            d.head = -1
        }
        if d.holder >= 0 { removeHolder(at: d.holder) }
        d.holder = -1
        d.bufferedBytes = 0
    }

    // MARK: - Fair shares of a full store

    /// Adds `delta` bytes to what a direction holds, keeping `holders` up to date.
    @inline(__always)
    private func charge(_ d: inout Direction, key: Int32, _ delta: Int) {
        let before = d.bufferedBytes
        d.bufferedBytes += delta
        if before == 0, d.bufferedBytes > 0 {
            d.holder = Int32(holders.count)
            holders.append(key)
        } else if before > 0, d.bufferedBytes == 0 {
            removeHolder(at: d.holder)
            d.holder = -1
        }
    }

    private func removeHolder(at index: Int32) {
        let moved = holders.removeLast()
        guard Int(index) < holders.count else { return }
        holders[Int(index)] = moved
        withHolder(moved) { $0.holder = index }
    }

    private func withHolder(_ key: Int32, _ body: (inout Direction) -> Void) {
        if key & 1 == 0 { body(&flows[Int(key >> 1)].toServer) } else { body(&flows[Int(key >> 1)].toClient) }
    }

    /// The store is full: when the requesting direction holds less than an equal share of
    /// it, a direction holding more than that gives up its furthest-ahead bytes (they become
    /// a gap when acknowledged, counted as evicted). Holders are sampled, not searched.
    private func makeRoom(for requester: Int32, holding: Int, need: Int) -> Bool {
        let sharers = holders.count + (holding == 0 ? 1 : 0)
        guard sharers > 1 else { return false }
        let share = store.totalBytes / sharers
        guard holding + need <= share else { return false }
        for _ in 0..<32 {
            probe ^= probe << 13
            probe ^= probe >> 7
            probe ^= probe << 17
            let victim = holders[Int(probe % UInt64(holders.count))]
            guard victim != requester else { continue }
            var freed = false
            withHolder(victim) { d in
                guard d.bufferedBytes > share else { return }
                evictTail(&d, key: victim, keeping: share - need)
                freed = true
            }
            if freed, store.freeBytes >= need { return true }
        }
        return false
    }

    /// Gives up a direction's last nodes (highest sequence numbers) until it holds at most
    /// `keeping` bytes.
    private func evictTail(_ d: inout Direction, key: Int32, keeping: Int) {
        var nodes: [Int32] = []
        var node = d.head
        while node >= 0 {
            nodes.append(node)
            node = store.next(node)
        }
        var held = d.bufferedBytes
        var cut = nodes.count
        while cut > 0, held > max(0, keeping) {
            cut -= 1
            held -= store.capacity(nodes[cut])
            counters.evictedBytes &+= UInt64(store.len(nodes[cut]))
        }
        guard cut < nodes.count else { return }
        anomalies.insert(.reassemblyLimit)
        if cut == 0 { d.head = -1 } else { store.setNext(nodes[cut - 1], -1) }
        store.release(chain: nodes[cut])
        charge(&d, key: key, held - d.bufferedBytes)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

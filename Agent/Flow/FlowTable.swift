import MBoxPacket

/// Limits of a flow table.
public struct FlowTableConfiguration: Sendable {
    /// Most flows held at once; storage for all of them is allocated up front.
    public var capacity: Int
    /// A flow with no packet for this long (by the packets' clock) is expired.
    public var idleTimeout: UInt64

    public init(capacity: Int = 65_536, idleTimeoutSeconds: Double = 120) {
        self.capacity = capacity
        self.idleTimeout = UInt64(idleTimeoutSeconds * 1e9)
    }
}

/// What the table counted.
public struct FlowTableCounters: Sendable {
    public var created: UInt64 = 0
    public var expired: UInt64 = 0
    /// Flows pushed out to make room when the table was full.
    public var evicted: UInt64 = 0
    public var removed: UInt64 = 0
}

/// A packet's flow, as found in the table.
public struct FlowMatch: Sendable {
    /// Index of the flow's storage; later stages keep their per-flow state at this index.
    public var slot: Int32
    /// True when the packet was sent by the flow's client.
    public var fromClient: Bool
}

/// Bidirectional flow table: open addressing over preallocated storage, an LRU list by
/// last packet time for idle expiry and eviction, and nothing allocated per packet.
///
/// The table only finds and orders flows. Expiry and eviction are requests: the caller
/// asks for `expiredSlot(now:)` or `oldestSlot`, lets later stages finish the flow, then
/// calls `remove(_:)`, so data moves one way and no stage reaches back.
public final class FlowTable {
    public let configuration: FlowTableConfiguration
    public private(set) var counters = FlowTableCounters()
    public private(set) var count = 0

    // The 4-byte fields fill the key's tail padding: 80 bytes an entry.
    private struct Entry {
        var key: FlowKey
        var hash: UInt32
        var newer: Int32   // LRU links; also the free-list link while unused
        var older: Int32
        var flowID: UInt64
        var firstSeen: UInt64
        var lastSeen: UInt64
    }

    private let entries: UnsafeMutablePointer<Entry>
    private let buckets: UnsafeMutablePointer<Int32>
    private let bucketMask: Int
    private var freeHead: Int32
    private var oldest: Int32 = -1
    private var newest: Int32 = -1
    private var nextFlowID: UInt64 = 1

    /// Bytes of table storage per flow (entry plus its share of the bucket array).
    public var bytesPerFlow: Int { MemoryLayout<Entry>.stride + (bucketMask + 1) * 4 / configuration.capacity }

    public init(configuration: FlowTableConfiguration = FlowTableConfiguration()) {
        precondition(configuration.capacity > 0 && configuration.capacity < Int(Int32.max) / 4)
        self.configuration = configuration
        var bucketCount = 1
        while bucketCount < configuration.capacity * 2 { bucketCount <<= 1 }
        bucketMask = bucketCount - 1
        buckets = .allocate(capacity: bucketCount)
        buckets.initialize(repeating: -1, count: bucketCount)
        entries = .allocate(capacity: configuration.capacity)
        let zero = IPAddress(high: 0, low: 0)
        for slot in 0..<configuration.capacity {
            (entries + slot).initialize(to: Entry(
                key: FlowKey(client: zero, clientPort: 0, server: zero, serverPort: 0, ipProtocol: 0), hash: 0,
                newer: slot + 1 < configuration.capacity ? Int32(slot + 1) : -1, older: -1,
                flowID: 0, firstSeen: 0, lastSeen: 0))
        }
        freeHead = 0
    }

    deinit {
        entries.deinitialize(count: configuration.capacity)
        entries.deallocate()
        buckets.deallocate()
    }

    public var isFull: Bool { freeHead < 0 }

    /// Finds the packet's flow and marks it as seen at `now`.
    public func lookup(_ headers: PacketHeaders, hash: UInt32, now: UInt64) -> FlowMatch? {
        withUnsafePointer(to: headers) { lookup(FlowKey(sourceOf: $0), hash: hash, now: now) }
    }

    /// Finds the flow of a packet whose 5-tuple, source first, is `packet`, and marks it
    /// as seen at `now`. (The data path passes the tuple, not the 130-byte headers: a
    /// copy of those per packet is a memcpy call.)
    @inline(__always)
    public func lookup(_ packet: FlowKey, hash: UInt32, now: UInt64) -> FlowMatch? {
        var bucket = Int(hash) & bucketMask
        while true {
            let slot = buckets[bucket]
            if slot < 0 { return nil }
            let entry = entries + Int(slot)
            if entry.pointee.hash == hash, entry.pointee.key.ipProtocol == packet.ipProtocol,
               entry.pointee.key.encapsulation == packet.encapsulation {
                let key = entry.pointee.key
                if key.clientPort == packet.clientPort, key.serverPort == packet.serverPort,
                   key.client == packet.client, key.server == packet.server {
                    touch(slot, now: now)
                    return FlowMatch(slot: slot, fromClient: true)
                }
                if key.clientPort == packet.serverPort, key.serverPort == packet.clientPort,
                   key.client == packet.server, key.server == packet.client {
                    touch(slot, now: now)
                    return FlowMatch(slot: slot, fromClient: false)
                }
            }
            bucket = (bucket + 1) & bucketMask
        }
    }

    /// Adds the packet's flow. `sourceIsClient` orients it (false when the first packet
    /// seen came from the server, e.g. a SYN-ACK). The table must not be full.
    public func insert(_ headers: PacketHeaders, hash: UInt32, sourceIsClient: Bool, now: UInt64) -> FlowMatch {
        withUnsafePointer(to: headers) { insert(FlowKey(sourceOf: $0), hash: hash, sourceIsClient: sourceIsClient, now: now) }
    }

    /// Adds the flow of a packet whose 5-tuple, source first, is `packet`.
    public func insert(_ packet: FlowKey, hash: UInt32, sourceIsClient: Bool, now: UInt64) -> FlowMatch {
        precondition(freeHead >= 0, "insert into a full flow table; evict first")
        let slot = freeHead
        let entry = entries + Int(slot)
        freeHead = entry.pointee.newer
        let key = sourceIsClient ? packet : packet.reversed
        entry.pointee = Entry(key: key, hash: hash, newer: -1, older: newest,
                              flowID: nextFlowID, firstSeen: now, lastSeen: now)
        nextFlowID += 1
        linkNewest(slot)
        var bucket = Int(hash) & bucketMask
        while buckets[bucket] >= 0 { bucket = (bucket + 1) & bucketMask }
        buckets[bucket] = slot
        count += 1
        counters.created += 1
        return FlowMatch(slot: slot, fromClient: sourceIsClient)
    }

    /// The least recently seen flow, if its idle time has passed at `now`.
    @inline(__always)
    public func expiredSlot(now: UInt64) -> Int32? {
        guard oldest >= 0, now &- entries[Int(oldest)].lastSeen > configuration.idleTimeout,
              now > entries[Int(oldest)].lastSeen else { return nil }
        return oldest
    }

    /// The least recently seen flow (the one to evict when full).
    public var oldestSlot: Int32? { oldest >= 0 ? oldest : nil }

    /// Every live slot, oldest first (for draining at the end of input).
    public var slotsOldestFirst: [Int32] {
        var slots: [Int32] = []
        var slot = oldest
        while slot >= 0 { slots.append(slot); slot = entries[Int(slot)].newer }
        return slots
    }

    public func key(_ slot: Int32) -> FlowKey { entries[Int(slot)].key }
    public func flowID(_ slot: Int32) -> UInt64 { entries[Int(slot)].flowID }
    public func firstSeen(_ slot: Int32) -> UInt64 { entries[Int(slot)].firstSeen }
    public func lastSeen(_ slot: Int32) -> UInt64 { entries[Int(slot)].lastSeen }

    /// Why a flow left the table, for counting.
    public enum RemovalReason: Sendable { case expired, evicted, closed, endOfInput }

    /// Frees a flow's slot; later stages must be done with it.
    public func remove(_ slot: Int32, reason: RemovalReason) {
        switch reason {
        case .expired: counters.expired += 1
        case .evicted: counters.evicted += 1
        case .closed, .endOfInput: counters.removed += 1
        }
        removeFromBuckets(slot)
        unlink(slot)
        entries[Int(slot)].newer = freeHead
        entries[Int(slot)].flowID = 0
        freeHead = slot
        count -= 1
    }

    // MARK: LRU list

    @inline(__always)
    private func touch(_ slot: Int32, now: UInt64) {
        let entry = entries + Int(slot)
        if now > entry.pointee.lastSeen { entry.pointee.lastSeen = now }
        guard slot != newest else { return }
        unlink(slot)
        entry.pointee.older = newest
        entry.pointee.newer = -1
        linkNewest(slot)
    }

    @inline(__always)
    private func linkNewest(_ slot: Int32) {
        if newest >= 0 { entries[Int(newest)].newer = slot } else { oldest = slot }
        newest = slot
    }

    @inline(__always)
    private func unlink(_ slot: Int32) {
        let entry = entries[Int(slot)]
        if entry.older >= 0 { entries[Int(entry.older)].newer = entry.newer } else { oldest = entry.newer }
        if entry.newer >= 0 { entries[Int(entry.newer)].older = entry.older } else { newest = entry.older }
    }

    // MARK: Buckets

    /// Linear-probing delete with backward shift, so no tombstones accumulate.
    private func removeFromBuckets(_ slot: Int32) {
        var hole = Int(entries[Int(slot)].hash) & bucketMask
        while buckets[hole] != slot { hole = (hole + 1) & bucketMask }
        var probe = hole
        while true {
            probe = (probe + 1) & bucketMask
            let moving = buckets[probe]
            if moving < 0 { break }
            let home = Int(entries[Int(moving)].hash) & bucketMask
            // Move the entry back into the hole unless its home lies cyclically in (hole, probe].
            let distanceToProbe = (probe - home) & bucketMask
            let distanceToHole = (probe - hole) & bucketMask
            if distanceToProbe >= distanceToHole {
                buckets[hole] = moving
                hole = probe
            }
        }
        buckets[hole] = -1
    }
}

import MBoxEvents
import MBoxFlow
import MBoxMatch
import MBoxNF
import MBoxPacket
import MBoxRules
import MBoxTCP

/// What Signature_Match counted.
public struct SignatureMatchCounters: Sendable {
    public var packetsScanned: UInt64 = 0
    public var streamBytesScanned: UInt64 = 0
    public var alerts: UInt64 = 0
    /// Hits forgotten because a flow direction had more than `maximumHitsPerDirection`.
    public var droppedHits: UInt64 = 0
    public var gapsSeen: UInt64 = 0
}

/// Signature_Match: Suricata-style rules over packets (`PKT`/`PKT/TCP` events, Hyperscan
/// block mode) or over reassembled streams (`DATA_RDY`, Hyperscan stream mode, so a
/// pattern split across segments is found without keeping the bytes). Publishes
/// `EVENT/IDS_ALERT` once per rule and flow; on `EVENT/DPI_DETECT` it turns on its
/// dynamic subscriptions for that flow.
public final class SignatureMatch: NetworkFunction {
    public let engine: RuleEngine
    /// Stop inspecting a flow after its first alert (the seed's configuration 4).
    public let stopOnAlert: Bool
    /// Inline prevention: a `drop`/`reject` rule that matches drops the packet and every
    /// later packet of its flow (the NF must be declared may_drop: the `IPS` type).
    public let prevents: Bool
    public private(set) var counters = SignatureMatchCounters()
    public static let maximumHitsPerDirection = 256

    private var context: NFContext!
    private var blockScanner: Scanner?
    private var streamScanner: Scanner?
    private var protocols: UnsafeMutablePointer<AppProtocol>!
    private var streams: UnsafeMutablePointer<OpaquePointer?>!
    /// Stream offset at which each open Hyperscan stream started, and how far it was scanned.
    private var streamBases: UnsafeMutablePointer<UInt64>!
    private var scanned: UnsafeMutablePointer<UInt64>!
    /// Per stream direction (slot × 2 + direction): the pattern hits so far. Per flow: the
    /// rules that alerted. Indexed storage rather than dictionaries: an empty array costs
    /// 8 bytes and no allocation, and removing a dictionary entry at a flow's end cost
    /// hundreds of instructions (its probe chain is rehashed).
    private var hitLogs: UnsafeMutablePointer<[PatternHit]>!
    private var alertedRules: UnsafeMutablePointer<[Int32]>!
    private var touched: [Int32] = []
    /// The engine's rules, read in place: a copy of a `Rule` retains each of its strings
    /// and arrays.
    private let rules: UnsafeMutableBufferPointer<Rule>
    private var blocked: UnsafeMutablePointer<Bool>!

    public init(engine: RuleEngine, stopOnAlert: Bool = false, prevents: Bool = false) throws {
        self.engine = engine
        self.stopOnAlert = stopOnAlert
        self.prevents = prevents
        rules = .allocate(capacity: engine.rules.count)
        _ = rules.initialize(from: engine.rules)
        if let database = engine.blockDatabase { blockScanner = try Scanner(database: database) }
        if let database = engine.streamDatabase { streamScanner = try Scanner(database: database) }
        touched.reserveCapacity(64)
    }

    deinit {
        rules.baseAddress?.deinitialize(count: rules.count)
        rules.deallocate()
        guard let streams else { return }
        for index in 0..<(2 * context.capacity) {
            if let stream = streams[index] { streamScanner?.closeStream(stream, base: 0) }
        }
        streams.deallocate()
        streamBases.deallocate()
        scanned.deallocate()
        protocols.deallocate()
        blocked.deallocate()
        // Empty arrays hold nothing to release: only the others are deinitialised.
        for index in 0..<(2 * context.capacity) where !hitLogs[index].isEmpty { (hitLogs + index).deinitialize(count: 1) }
        hitLogs.deallocate()
        for slot in 0..<context.capacity where !alertedRules[slot].isEmpty { (alertedRules + slot).deinitialize(count: 1) }
        alertedRules.deallocate()
    }

    public func attach(_ context: NFContext) {
        self.context = context
        protocols = .allocate(capacity: context.capacity)
        protocols.initialize(repeating: .unknown, count: context.capacity)
        streams = .allocate(capacity: 2 * context.capacity)
        streams.initialize(repeating: nil, count: 2 * context.capacity)
        streamBases = .allocate(capacity: 2 * context.capacity)
        streamBases.initialize(repeating: 0, count: 2 * context.capacity)
        scanned = .allocate(capacity: 2 * context.capacity)
        scanned.initialize(repeating: 0, count: 2 * context.capacity)
        blocked = .allocate(capacity: context.capacity)
        blocked.initialize(repeating: false, count: context.capacity)
        hitLogs = .allocate(capacity: 2 * context.capacity)
        hitLogs.initialize(repeating: [], count: 2 * context.capacity)
        alertedRules = .allocate(capacity: context.capacity)
        alertedRules.initialize(repeating: [], count: context.capacity)
    }

    public func flowStarted(slot: Int32) {
        protocols[Int(slot)] = .unknown
        blocked[Int(slot)] = false
    }

    public func flowEnded(slot: Int32) {
        for direction in 0..<2 {
            let index = Int(slot) * 2 + direction
            if let stream = streams[index] {
                streamScanner?.closeStream(stream, base: 0)
                streams[index] = nil
            }
            if !hitLogs[index].isEmpty { hitLogs[index] = [] }
            scanned[index] = 0
        }
        if !alertedRules[Int(slot)].isEmpty { alertedRules[Int(slot)] = [] }
    }

    public func handle(_ event: Event) {
        if prevents, blocked[Int(event.slot)] {
            if event.headers != nil { context.drop() }
            return
        }
        switch event.type {
        case .dpiDetect:
            protocols[Int(event.slot)] = event.detail.appProtocol
            context.subscribeDynamic(slot: event.slot)
            // DPI hands over the stream it classified (from offset 0): scan it now, so the
            // start of the stream is not missed by subscribing late.
            if event.data != nil { inspectStream(event) }
        case .dataReady:
            inspectStream(event)
        default:
            // Inline, packets are for enforcement; inspection reads the streams.
            if event.headers != nil, !prevents { inspectPacket(event) }
        }
    }

    // MARK: - Packets

    private func inspectPacket(_ event: Event) {
        let payload = event.payload
        touched.removeAll(keepingCapacity: true)
        touched += engine.headerOnly
        if let scanner = blockScanner, !payload.isEmpty {
            counters.packetsScanned &+= 1
            scanner.scan(payload)
            for hit in scanner.lastHits { touch(engine.ruleOfPattern[Int(hit.id)]) }
            evaluate(event, stream: false, hits: scanner.lastHits)
        } else {
            evaluate(event, stream: false, hits: UnsafeBufferPointer(start: nil, count: 0))
        }
    }

    // MARK: - Streams

    private func inspectStream(_ event: Event) {
        guard let scanner = streamScanner else {
            touched.removeAll(keepingCapacity: true)
            touched += engine.headerOnly
            evaluate(event, stream: true, hits: UnsafeBufferPointer(start: nil, count: 0))
            return
        }
        let index = Int(event.slot) * 2 + (event.direction == .toServer ? 0 : 1)
        if event.data == nil {
            // A gap: nothing can match across it. Restart after it.
            counters.gapsSeen &+= 1
            if let stream = streams[index] {
                scanner.closeStream(stream, base: streamBases[index])
                streams[index] = nil
            }
            return
        }
        // Bytes already scanned (handed over by DPI) are not scanned again.
        var bytes = event.stream
        var offset = event.dataOffset
        if streams[index] != nil, offset < scanned[index] {
            let skip = Int(min(scanned[index] - offset, UInt64(bytes.count)))
            bytes = UnsafeRawBufferPointer(rebasing: bytes[skip...])
            offset += UInt64(skip)
            if bytes.isEmpty { return }
        }
        if streams[index] == nil {
            streams[index] = scanner.openStream()
            streamBases[index] = offset
        }
        guard let stream = streams[index] else { return }
        counters.streamBytesScanned &+= UInt64(bytes.count)
        scanner.scan(stream: stream, bytes, base: streamBases[index])
        scanned[index] = offset + UInt64(bytes.count)
        touched.removeAll(keepingCapacity: true)
        touched += engine.headerOnly
        if scanner.hitCount > 0 {
            for hit in scanner.lastHits {
                touch(engine.ruleOfPattern[Int(hit.id)])
                if hitLogs[index].count < Self.maximumHitsPerDirection {
                    hitLogs[index].append(hit)
                } else {
                    counters.droppedHits &+= 1
                }
            }
        }
        guard !touched.isEmpty else { return }
        // A reference of its own: an alert published meanwhile may come back here.
        let log = hitLogs[index]
        log.withUnsafeBufferPointer { evaluate(event, stream: true, hits: $0) }
    }

    // MARK: - Rules

    @inline(__always)
    private func touch(_ rule: Int32) {
        if !touched.contains(rule) { touched.append(rule) }
    }

    private func evaluate(_ event: Event, stream: Bool, hits: UnsafeBufferPointer<PatternHit>) {
        guard !touched.isEmpty else { return }
        let key = context.flowKey(of: event)
        let toServer = event.cause == .client
        let source = toServer ? key.client : key.server
        let sourcePort = toServer ? key.clientPort : key.serverPort
        let destination = toServer ? key.server : key.client
        let destinationPort = toServer ? key.serverPort : key.clientPort
        for rule in touched {
            let index = Int(rule)
            if stream ? rules[index].noStream : rules[index].onlyStream { continue }
            switch rules[index].flowDirection {
            case .toServer where !toServer, .toClient where toServer: continue
            default: break
            }
            if let established = rules[index].established, established != event.snapshot.established { continue }
            if alertedRules[Int(event.slot)].contains(rule) { continue }
            guard rules[index].headerMatches(protocol: key.ipProtocol, source: source, sourcePort: sourcePort,
                                             destination: destination, destinationPort: destinationPort),
                  engine.payloadMatches(rule, hits: hits) else { continue }
            alertedRules[Int(event.slot)].append(rule)
            counters.alerts &+= 1
            context.publish(.idsAlert, about: event,
                            detail: EventDetail(appProtocol: protocols[Int(event.slot)], index: rule))
            if prevents, rules[index].action == .drop || rules[index].action == .reject {
                blocked[Int(event.slot)] = true
                if event.headers != nil { context.drop() }
                return
            }
            if stopOnAlert {
                context.unsubscribeAll(slot: event.slot)
                return
            }
        }
    }
}

extension ChainRunner {
    /// The last packet's alerts, each with the rule that raised it and its flow's key
    /// (what EVE lines and the controller's alert records are made of).
    public func forEachAlert(_ body: (Event, Rule, FlowKey) throws -> Void) rethrows {
        for alert in alerts {
            guard let matcher = members[Int(alert.publisher)].function as? SignatureMatch else { continue }
            try body(alert, matcher.engine.rules[Int(alert.detail.index)], flowKey(of: alert))
        }
    }
}

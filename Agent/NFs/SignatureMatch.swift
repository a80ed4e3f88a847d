import MBoxAppLayer
import MBoxDetect
import MBoxEvents
import MBoxFlow
import MBoxNFRunner
import MBoxPacket
import MBoxRules
import MBoxTCPMonitor

/// What Signature_Match counted.
public struct SignatureMatchCounters: Sendable {
    public var packetsScanned: UInt64 = 0
    public var streamBytesScanned: UInt64 = 0
    public var transactions: UInt64 = 0
    public var alerts: UInt64 = 0
    public var gapsSeen: UInt64 = 0
}

/// Signature_Match: Suricata rules over every packet (`PKT`, TCP, UDP, ICMP, other IP),
/// over reassembled streams (`DATA_RDY`, both directions: a window of the stream so far
/// so that patterns split across segments are found) and over the application-layer
/// transactions those streams and datagrams completed (HTTP, TLS, DNS, SSH) — read from
/// the worker's application-layer stage, which parsed them once for every NF. Publishes
/// `EVENT/IDS_ALERT` per matching rule and packet, as Suricata raises alerts.
///
/// On `EVENT/DPI_DETECT` (the seed's chains) it turns on its dynamic subscriptions for the
/// flow and inspects the stream DPI hands over.
public final class SignatureMatch: NetworkFunction {
    public let engine: DetectEngine
    /// Stop inspecting a flow after its first alert (the seed's configuration 4).
    public let stopOnAlert: Bool
    /// Inline prevention: a `drop`/`reject` rule that matches drops the packet and every
    /// later packet of its flow (the NF must be declared may_drop: the `IPS` type).
    public let prevents: Bool
    public private(set) var counters = SignatureMatchCounters()
    /// Stream bytes kept per direction so a match may span chunks.
    public static let streamWindow = 2048

    private var context: NFContext!
    private var detector: Detector!
    /// The worker's application-layer stage (when some rule reads application data).
    /// Held unretained: the chain's runner owns the stage for as long as this NF runs, and
    /// a retained optional cost two atomic operations on every packet it was read on.
    private var unretainedAppLayer: Unmanaged<AppLayerStage>?

    /// Runs `body` with the stage (nil without one), without retaining it.
    @inline(__always)
    private func withAppLayer<Result>(_ body: (AppLayerStage) -> Result) -> Result? {
        unretainedAppLayer?._withUnsafeGuaranteedRef(body)
    }

    /// Inspects what the end of the flow's streams completed (bodies read until close).
    private func inspectClosing(_ event: Event) {
        withAppLayer { stage in
            for transaction in stage.closingTransactions(slot: event.slot, flowID: event.flowID) { inspect(transaction, event) }
        }
    }
    /// Per flow slot: whether the flow is blocked.
    private var blocked: [Bool] = []
    /// Per non-TCP flow: which ends have sent (bit 0 the client, bit 1 the server).
    private var spoke: [UInt8] = []
    /// Per TCP flow: both ends closed, its stream state released (the flow lingers in the
    /// table until it expires; its windows and parsers need not).
    private var released: [Bool] = []
    /// Per slot × direction: the stream's last bytes and the offset inspected up to.
    private var windows: [[UInt8]] = []
    private var patterns: UnsafeMutablePointer<StreamPatterns>!
    private var patternCount = 0
    private var scanned: [UInt64] = []
    private let parsesApps: Bool
    private var matched: [Int32] = []
    /// The transaction being inspected, and what EVE reports of the alerts it raised.
    private var currentTransaction: AppBuffers?
    private var alertContext: [AlertKey: String] = [:]

    struct AlertKey: Hashable {
        var flowID: UInt64
        var rule: Int32
    }
    /// Rules that alerted for the packet being handled (an alert per rule and packet).
    private var packetAlerts: [Int32] = []
    private var packetPassed = false
    private var currentPacket: (UnsafeRawPointer?, UInt64, UInt64) = (nil, 0, 0)
    private var window: [UInt8] = []
    /// The payload of the packet last inspected (its prefilter hits are the detector's).
    private var lastInspectedPayload: UnsafeRawPointer?

    public init(engine: DetectEngine, stopOnAlert: Bool = false, prevents: Bool = false) throws {
        self.engine = engine
        self.stopOnAlert = stopOnAlert
        self.prevents = prevents
        parsesApps = engine.rules.contains { $0.appProtocol != nil }
        matched.reserveCapacity(64)
        packetAlerts.reserveCapacity(16)
        window.reserveCapacity(Self.streamWindow + 65_536)
    }

    deinit {
        guard let patterns else { return }
        patterns.deinitialize(count: patternCount)
        patterns.deallocate()
    }

    /// Throws when the detector cannot be built (Hyperscan scratch space refused): the
    /// chain is then refused whole, before any packet, rather than run without detection.
    public func attach(_ context: NFContext) throws {
        self.context = context
        // The detector's tables are sized by the chain's flow capacity.
        detector = try Detector(engine: engine, capacity: context.capacity)
        unretainedAppLayer = parsesApps ? context.appLayer.map { Unmanaged.passUnretained($0) } : nil
        blocked = Array(repeating: false, count: context.capacity)
        spoke = Array(repeating: 0, count: context.capacity)
        released = Array(repeating: false, count: context.capacity)
        windows = Array(repeating: [], count: 2 * context.capacity)
        patterns = .allocate(capacity: 2 * context.capacity)
        patterns.initialize(repeating: StreamPatterns(), count: 2 * context.capacity)
        patternCount = 2 * context.capacity
        scanned = Array(repeating: 0, count: 2 * context.capacity)
    }

    public func flowStarted(slot: Int32) {
        blocked[Int(slot)] = false
        spoke[Int(slot)] = 0
        released[Int(slot)] = false
    }

    public func flowEnded(slot: Int32) {
        for direction in 0..<2 {
            let index = Int(slot) * 2 + direction
            if !windows[index].isEmpty { windows[index] = [] }
            patterns[index].reset()
            scanned[index] = 0
        }
        detector.flowEnded(slot: slot)
    }

    public func handle(_ event: Event) {
        if prevents, blocked[Int(event.slot)] {
            if event.headers != nil { context.drop() }
            return
        }
        beginPacket(event)
        switch event.type {
        case .dpiDetect:
            context.subscribeDynamic(slot: event.slot)
            // DPI hands over the stream it classified (from offset 0).
            if event.data != nil { inspectStream(event) }
        case .dataReady:
            inspectStream(event)
        case .flowDestroyed:
            if !released[Int(event.slot)] { inspectClosing(event) }
        default:
            if event.headers != nil { inspectPacket(event) }
        }
    }

    // MARK: - Packets

    private func inspectPacket(_ event: Event) {
        guard let headers = event.headers?.pointee else { return }
        // No rule of the set can match this protocol's packets.
        switch headers.ipProtocol {
        case IPProtocolNumber.tcp: if !engine.needs.tcpPackets { return }
        case IPProtocolNumber.udp: if !engine.needs.udp { return }
        case IPProtocolNumber.icmp, IPProtocolNumber.icmpv6: if !engine.needs.icmp { return }
        default: if !engine.needs.otherIP { return }
        }
        var facts = self.facts(event)
        facts.hasPacket = true
        facts.tcpFlags = headers.tcpFlags.rawValue
        facts.payloadLength = headers.payloadLength
        facts.icmpType = headers.icmpType
        facts.icmpCode = headers.icmpCode
        facts.ttl = headers.ttl
        if !headers.isTCP {
            // Suricata's view of a UDP/ICMP flow: established once the other end replied.
            spoke[Int(event.slot)] |= facts.toServer ? 1 : 2
            facts.established = spoke[Int(event.slot)] == 3
        }
        let payload = event.payload
        if headers.isUDP, !payload.isEmpty {
            withAppLayer { $0.forEachTransaction(flowID: event.flowID, kind: .datagram) { inspect($0, event) } }
        }
        counters.packetsScanned &+= 1
        lastInspectedPayload = payload.isEmpty ? nil : payload.baseAddress
        if !matched.isEmpty { matched.removeAll(keepingCapacity: true) }
        detector.inspectPayload(facts, payload: payload, stream: false, slot: event.slot, into: &matched)
        raise(event)
        if headers.isTCP, payload.isEmpty,
           Self.bothClosed(event.snapshot) || withAppLayer({ $0.endedStreams(of: event.flowID) }) == true { releaseStreams(event) }
    }

    /// Both ends have closed. The snapshot is the sender's stack after its packet and the
    /// receiver's before it: a receiver in LAST_ACK is closed by this (final) ACK.
    static func bothClosed(_ snapshot: StackSnapshot) -> Bool {
        func done(_ state: TCPState) -> Bool { state == .closed || state == .timeWait || state == .lastAck }
        return snapshot.established && done(snapshot.clientState) && done(snapshot.serverState)
    }

    /// The connection is closed (a data-less packet finished it, so no stream data follows):
    /// the parsers' last messages are inspected and the flow's stream state is freed.
    private func releaseStreams(_ event: Event) {
        let slot = Int(event.slot)
        guard !released[slot] else { return }
        released[slot] = true
        inspectClosing(event)
        for index in [slot * 2, slot * 2 + 1] {
            if windows[index].capacity > 0 { windows[index] = [] }
            patterns[index].reset()
        }
    }

    // MARK: - Streams

    private func inspectStream(_ event: Event) {
        let index = Int(event.slot) * 2 + (event.direction == .toServer ? 0 : 1)
        guard event.data != nil else {
            // A gap: nothing can match across it.
            counters.gapsSeen &+= 1
            if !windows[index].isEmpty { windows[index] = [] }
            patterns[index].reset()
            return
        }
        // Bytes already inspected (handed over by DPI, then delivered again) are skipped.
        var bytes = event.stream
        var offset = event.dataOffset
        if offset < scanned[index] {
            let skip = Int(min(scanned[index] - offset, UInt64(bytes.count)))
            bytes = UnsafeRawBufferPointer(rebasing: bytes[skip...])
            offset += UInt64(skip)
            if bytes.isEmpty { return }
        }
        scanned[index] = offset + UInt64(bytes.count)
        counters.streamBytesScanned &+= UInt64(bytes.count)
        let toServer = event.direction == .toServer
        let slot = Int(event.slot)
        if !released[slot] {
            // What these bytes completed, parsed once by the stage for every reader.
            let through = offset + UInt64(bytes.count)
            withAppLayer { appLayer in
                if event.type == .dataReady {
                    // The event names the records its bytes completed.
                    appLayer.forEachTransaction(records: event.detail.index, count: event.detail.value, after: offset,
                                                through: through) { inspect($0, event) }
                } else {
                    // A stream handed over (DPI_DETECT): what bytes up to here completed in this packet.
                    appLayer.forEachTransaction(flowID: event.flowID, toServer: toServer, after: offset, through: through) {
                        inspect($0, event)
                    }
                }
            }
        }
        // In-order data points into the packet: the packet's prefilter hits cover it.
        let packetPayload = event.payload
        let newBytesArePacket = lastInspectedPayload != nil && packetPayload.baseAddress == lastInspectedPayload
            && bytes.baseAddress == packetPayload.baseAddress && bytes.count == packetPayload.count
        var facts = self.facts(event)
        facts.hasPacket = false
        if !matched.isEmpty { matched.removeAll(keepingCapacity: true) }
        let kept = windows[index].count
        if kept == 0 {
            // Nothing kept (the direction's first bytes, or after a gap): inspected in place.
            detector.inspectPayload(facts, payload: bytes, stream: true, newFrom: 0, seen: patterns + index,
                                    newBytesArePacket: newBytesArePacket, slot: event.slot, into: &matched)
            windows[index].append(contentsOf: bytes.suffix(Self.streamWindow))
        } else {
            // The window: the stream's kept tail, then the new bytes.
            window.removeAll(keepingCapacity: true)
            window += windows[index]
            window += bytes
            window.withUnsafeBytes {
                detector.inspectPayload(facts, payload: $0, stream: true, newFrom: kept, seen: patterns + index,
                                        newBytesArePacket: newBytesArePacket, slot: event.slot, into: &matched)
            }
            // The kept tail reuses its storage: no allocation per chunk once the flow has one.
            windows[index].removeAll(keepingCapacity: true)
            windows[index].append(contentsOf: window.suffix(Self.streamWindow))
        }
        raise(event)
    }

    // MARK: - Transactions

    private func inspect(_ transaction: AppTransaction, _ event: Event) {
        counters.transactions &+= 1
        var facts = self.facts(event)
        facts.toServer = transaction.toServer
        facts.hasPacket = false
        facts.appProtocol = transaction.buffers.protocolName
        if !matched.isEmpty { matched.removeAll(keepingCapacity: true) }
        detector.inspectTransaction(facts, buffers: transaction.buffers, slot: event.slot, into: &matched)
        guard !matched.isEmpty else { return }
        currentTransaction = transaction.buffers
        raise(event)
        currentTransaction = nil
    }

    // MARK: - Alerts

    private func facts(_ event: Event) -> PacketFacts {
        let key = context.flowKey(of: event)
        let toServer = event.cause == .client
        var facts = PacketFacts()
        facts.ipProtocol = key.ipProtocol
        facts.source = toServer ? key.client : key.server
        facts.sourcePort = toServer ? key.clientPort : key.serverPort
        facts.destination = toServer ? key.server : key.client
        facts.destinationPort = toServer ? key.serverPort : key.clientPort
        facts.toServer = toServer
        // UDP and other flows count as established once both ends have spoken; a TCP flow
        // once its handshake completed (or it was picked up mid-stream and both ends spoke).
        facts.established = event.snapshot.established
        facts.clientBytes = event.snapshot.toServerOffset
        facts.serverBytes = event.snapshot.toClientOffset
        facts.appProtocol = withAppLayer { $0.detected(slot: event.slot, flowID: event.flowID) } ?? nil
        facts.timestamp = event.timestamp
        return facts
    }

    /// Starts a packet's alert bookkeeping when `event` is about a packet not seen before.
    private func beginPacket(_ event: Event) {
        let identity = (UnsafeRawPointer(event.packet.baseAddress), event.flowID, event.timestamp)
        if identity.0 == nil || identity != currentPacket {
            currentPacket = identity
            if !packetAlerts.isEmpty { packetAlerts.removeAll(keepingCapacity: true) }
            // Kept until the next real packet: alerts are written once the packet (or the
            // end of input, whose events have no packet) has been through the chain.
            if identity.0 != nil, !alertContext.isEmpty { alertContext.removeAll(keepingCapacity: true) }
            packetPassed = false
            lastInspectedPayload = nil
        }
    }

    /// Publishes an alert for each rule in `matched` not yet alerted for this packet.
    private func raise(_ event: Event) {
        guard !matched.isEmpty, !packetPassed else { return }
        for rule in matched where !packetAlerts.contains(rule) {
            packetAlerts.append(rule)
            let action = engine.rules[Int(rule)].action
            if action == .pass {
                packetPassed = true
                return
            }
            counters.alerts &+= 1
            let app = withAppLayer { $0.detected(slot: event.slot, flowID: event.flowID) } ?? nil
            if let transaction = currentTransaction {
                alertContext[AlertKey(flowID: event.flowID, rule: rule)] = EVEWriter.transactionFields(transaction)
            }
            context.publish(.idsAlert, about: event, detail: EventDetail(appProtocol: app, index: rule))
            // Active response, inline or not (as Suricata's reject): the packet's sender is told.
            if action == .reject, event.headers != nil { context.reject() }
            if prevents, action == .drop || action == .reject {
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

    /// EVE's fields for an alert raised on a transaction (`"http":{…}`), if it was.
    public func eveFields(for alert: Event) -> String? {
        alertContext[AlertKey(flowID: alert.flowID, rule: alert.detail.index)]
    }
}

extension ChainRunner {
    /// The last packet's alerts, each with the rule that raised it and its flow's key
    /// (what EVE lines and the controller's alert records are made of).
    public func forEachAlert(_ body: (Event, Rule, FlowKey) throws -> Void) rethrows {
        try forEachAlert { alert, rule, key, _ in try body(alert, rule, key) }
    }

    /// The same, with what EVE reports of the alert's transaction.
    public func forEachAlert(_ body: (Event, Rule, FlowKey, String?) throws -> Void) rethrows {
        for alert in alerts {
            guard let matcher = members[Int(alert.publisher)].function as? SignatureMatch else { continue }
            try body(alert, matcher.engine.rules[Int(alert.detail.index)], flowKey(of: alert), matcher.eveFields(for: alert))
        }
    }
}

// MARK: - Its kind: parameters read from the chain file, beside the NF.

extension SignatureMatch {
    public static let kind = NFKind(type: "Signature_Match", action: .readOnly, publishes: ["EVENT/IDS_ALERT"],
                                       parameters: ["rules", "stop_on_alert"]) { parameters, resources, directory in
        prepare(&parameters, resources, directory, prevents: false)
    }

    /// Signature_Match inline: `drop`/`reject` rules drop the packet and the rest of its flow.
    public static let ipsKind = NFKind(type: "IPS", action: .mayDrop, publishes: ["EVENT/IDS_ALERT"],
                            parameters: ["rules", "stop_on_alert"]) { parameters, resources, directory in
        prepare(&parameters, resources, directory, prevents: true)
    }

    private static func prepare(_ parameters: inout Parameters, _ resources: any NFResources, _ directory: String,
                                prevents: Bool) -> NFPreparation? {
        let stop = parameters.bool("stop_on_alert", default: false)
        var path = resources.rulesOverride ?? parameters.string("rules", default: nil)
        guard let given = path else {
            parameters.error(nil, "Signature_Match needs 'rules' (a rules file) or the command's --rules")
            return nil
        }
        if resources.rulesOverride == nil, resources.ruleSets == nil, !given.hasPrefix("/") { path = directory + "/" + given }
        let engine: DetectEngine
        do {
            engine = try resources.engine(path!)
        } catch {
            parameters.error(nil, "cannot load rules \(path!): \(error)")
            return nil
        }
        return NFPreparation(needs: engine.needs) { try SignatureMatch(engine: engine, stopOnAlert: stop, prevents: prevents) }
    }
}

import MBoxPacket
import MBoxRules

/// What the application-layer stage counted.
public struct AppLayerCounters: Sendable {
    /// Transactions completed, by protocol (`AppLayerProtocol.rawValue`).
    public var transactions = [UInt64](repeating: 0, count: AppLayerProtocol.allCases.count)
    /// HTTP requests parsed (each once, whatever number of NFs read it).
    public var httpRequests: UInt64 = 0
    /// Stream and datagram bytes handed to the parsers.
    public var bytesParsed: UInt64 = 0
}

/// The application layer as a stage of its own, between the μStack and the NFs: one
/// worker's parsers, one set per flow, fed once with each reassembled chunk, each UDP
/// datagram and each flow's end while the event source builds a packet's events. What
/// they complete is kept for the packet as `records`; the event source publishes `APP/…`
/// events for them, and NFs read them back by flow and byte range — so a request is
/// parsed once, whatever number of NFs read it, and only protocols some reader needs
/// are parsed at all.
///
/// Records are written before the packet's events are dispatched and only read during
/// dispatch, so NFs on helper cores read them without a lock.
public final class AppLayerStage {
    /// One transaction a packet completed.
    public struct Record {
        public var flowID: UInt64
        public var slot: Int32
        public var transaction: AppTransaction
        public var kind: Kind
    }

    /// What completed a record.
    public enum Kind: Equatable {
        /// Stream bytes of the transaction's direction ending at this offset.
        case stream(end: UInt64)
        /// A UDP datagram.
        case datagram
        /// The end of the flow's streams (bodies read until close, partial messages).
        case finish
    }

    /// Buffers some reader uses (no others are built) and the protocols parsed.
    public let wanted: BufferMask
    public let parsed: Set<AppLayerProtocol>
    public private(set) var counters = AppLayerCounters()
    /// What the current packet completed.
    public private(set) var records: [Record] = []
    /// Flows whose streams this packet ended (`finish`).
    public private(set) var endedStreams: [UInt64] = []

    /// Per slot: the flow's parsers (made at its first stream bytes).
    private var flows: [AppLayerFlow?]
    /// Per slot, together so a packet's lookups touch one cache line: whose flow the slot
    /// holds, its protocol, how far each direction was fed, whether its streams ended.
    private let slots: UnsafeMutablePointer<SlotState>
    private let capacity: Int

    struct SlotState {
        var flowID = UInt64.max
        var fedToServer: UInt64 = 0
        var fedToClient: UInt64 = 0
        var detected: AppLayerProtocol?
        /// The flow's streams ended (closed, or the flow ended): nothing more is parsed.
        var released = false
    }
    /// What a flow's end completed, kept until the flow is gone (an NF that sees the flow
    /// end, but not the packet that closed it, still reads them); slots whose flows ended
    /// with the last packet, forgotten when the next begins.
    private var closing: [Int32: (flowID: UInt64, transactions: [AppTransaction])] = [:]
    private var endedSlots: [Int32] = []

    public init(capacity: Int, wanted: BufferMask, parsed: Set<AppLayerProtocol>) {
        self.wanted = wanted
        self.parsed = parsed
        self.capacity = capacity
        flows = Array(repeating: nil, count: capacity)
        slots = .allocate(capacity: capacity)
        slots.initialize(repeating: SlotState(), count: capacity)
        records.reserveCapacity(8)
    }

    deinit {
        slots.deinitialize(count: capacity)
        slots.deallocate()
    }

    /// A new packet: the last one's records go.
    @inline(__always)
    public func beginPacket() {
        if !records.isEmpty { records.removeAll(keepingCapacity: true) }
        if !endedStreams.isEmpty { endedStreams.removeAll(keepingCapacity: true) }
        if !endedSlots.isEmpty {
            for slot in endedSlots { closing[slot] = nil }
            endedSlots.removeAll(keepingCapacity: true)
        }
    }

    /// The application protocol detected on the flow `flowID` in `slot`, if any.
    @inline(__always)
    public func detected(slot: Int32, flowID: UInt64) -> AppLayerProtocol? {
        let state = slots + Int(slot)
        return state.pointee.flowID == flowID ? state.pointee.detected : nil
    }

    /// Feeds reassembled bytes of one direction (`offset`: where they start in the stream);
    /// bytes fed before are not parsed again. Returns the indices of the records they completed.
    public func stream(slot: Int32, flowID: UInt64, serverPort: UInt16, toServer: Bool, offset: UInt64,
                       bytes: UnsafeRawBufferPointer) -> Range<Int> {
        let (start, state) = slotState(slot, flowID)
        let index = Int(slot)
        guard !state.pointee.released else { return start..<start }
        let end = offset + UInt64(bytes.count)
        let fed = toServer ? state.pointee.fedToServer : state.pointee.fedToClient
        guard end > fed else { return start..<start }
        let skip = fed > offset ? Int(fed - offset) : 0
        if toServer { state.pointee.fedToServer = end } else { state.pointee.fedToClient = end }
        let new = UnsafeRawBufferPointer(rebasing: bytes[skip...])
        counters.bytesParsed &+= UInt64(new.count)
        let flow: AppLayerFlow
        if let existing = flows[index] {
            flow = existing
        } else {
            flow = AppLayerFlow(serverPort: serverPort, wanted: wanted, parsed: parsed)
            flows[index] = flow
        }
        let transactions = flow.feed(new, toServer: toServer)
        state.pointee.detected = flow.detected
        for transaction in transactions { record(transaction, slot: slot, flowID: flowID, kind: .stream(end: end)) }
        return start..<records.count
    }

    /// A UDP datagram's payload: DNS (by port and a well-formed header) is detected and its
    /// query read. Returns the indices of the records it completed.
    public func datagram(slot: Int32, flowID: UInt64, sourcePort: UInt16, destinationPort: UInt16, toServer: Bool,
                         payload: UnsafeRawBufferPointer) -> Range<Int> {
        let (start, state) = slotState(slot, flowID)
        if state.pointee.detected == nil {
            state.pointee.detected = AppDetect.udp(payload, sourcePort: sourcePort, destinationPort: destinationPort)
        }
        guard state.pointee.detected == .dns else { return start..<start }
        counters.bytesParsed &+= UInt64(payload.count)
        if let transaction = AppLayerFlow.dns(payload, toServer: toServer) {
            record(transaction, slot: slot, flowID: flowID, kind: .datagram)
        }
        return start..<records.count
    }

    /// The flow's streams ended (both ends closed, or — `flowEnded` — the flow itself):
    /// what the parsers still held completes, and nothing more is parsed. Returns the
    /// indices of the records it completed.
    public func finish(slot: Int32, flowID: UInt64, flowEnded: Bool = false) -> Range<Int> {
        let start = records.count
        let index = Int(slot)
        let state = slots + index
        if flowEnded, state.pointee.flowID == flowID { endedSlots.append(slot) }
        guard state.pointee.flowID == flowID, !state.pointee.released else { return start..<start }
        state.pointee.released = true
        endedStreams.append(flowID)
        if let flow = flows[index] {
            let transactions = flow.finish()
            for transaction in transactions { record(transaction, slot: slot, flowID: flowID, kind: .finish) }
            if !transactions.isEmpty { closing[slot] = (flowID, transactions) }
            flows[index] = nil
        }
        return start..<records.count
    }

    /// What the end of the flow `flowID`'s streams completed (bodies read until close,
    /// partial messages), from the packet that closed it until the flow is gone.
    public func closingTransactions(slot: Int32, flowID: UInt64) -> [AppTransaction] {
        guard !closing.isEmpty, let kept = closing[slot], kept.flowID == flowID else { return [] }
        return kept.transactions
    }

    /// Calls `body` with each transaction of this packet for `flowID` and direction that
    /// stream bytes in `(after, through]` completed — what a reader of those bytes sees.
    @inline(__always)
    public func forEachTransaction(flowID: UInt64, toServer: Bool, after: UInt64, through: UInt64,
                                   _ body: (AppTransaction) -> Void) {
        guard !records.isEmpty else { return }
        for record in records where record.flowID == flowID && record.transaction.toServer == toServer {
            if case let .stream(end) = record.kind, end > after, end <= through { body(record.transaction) }
        }
    }

    /// Calls `body` with each transaction of records `first..<first + count` (a `DATA_RDY`
    /// event's) that stream bytes in `(after, through]` completed: no search.
    @inline(__always)
    public func forEachTransaction(records first: Int32, count: UInt64, after: UInt64, through: UInt64,
                                   _ body: (AppTransaction) -> Void) {
        guard count > 0, first >= 0, Int(first) + Int(count) <= records.count else { return }
        for index in Int(first)..<(Int(first) + Int(count)) {
            if case let .stream(end) = records[index].kind, end > after, end <= through { body(records[index].transaction) }
        }
    }

    /// Calls `body` with each transaction of this packet for `flowID` of `kind` (a datagram's, or the flow's end).
    @inline(__always)
    public func forEachTransaction(flowID: UInt64, kind: Kind, _ body: (AppTransaction) -> Void) {
        guard !records.isEmpty else { return }
        for record in records where record.flowID == flowID && record.kind == kind { body(record.transaction) }
    }

    /// Whether this packet ended the flow's streams (its `finish` records, if any, are in).
    @inline(__always)
    public func endedStreams(of flowID: UInt64) -> Bool { !endedStreams.isEmpty && endedStreams.contains(flowID) }

    /// The transaction of record `index` (an `APP/…` event's `detail.index`).
    @inline(__always)
    public func transaction(at index: Int32) -> AppTransaction { records[Int(index)].transaction }

    /// Where this call's records will start, and the slot's state — which belongs to one
    /// flow: a new flow there starts afresh.
    @inline(__always)
    private func slotState(_ slot: Int32, _ flowID: UInt64) -> (Int, UnsafeMutablePointer<SlotState>) {
        let index = Int(slot)
        if slots[index].flowID != flowID {
            slots[index] = SlotState(flowID: flowID)
            if flows[index] != nil { flows[index] = nil }
            if !closing.isEmpty { closing[slot] = nil }
        }
        return (records.count, slots + index)
    }

    private func record(_ transaction: AppTransaction, slot: Int32, flowID: UInt64, kind: Kind) {
        let name = transaction.buffers.protocolName
        counters.transactions[Int(name.rawValue)] &+= 1
        if name == .http, transaction.toServer { counters.httpRequests &+= 1 }
        records.append(Record(flowID: flowID, slot: slot, transaction: transaction, kind: kind))
    }
}

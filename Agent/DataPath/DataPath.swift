import MBoxCapture
import MBoxFlow
import MBoxPacket
import MBoxTCPSplicer
import MBoxTCPSplitProxy
import MBoxTCPMonitor
import MBoxTransmit

/// What happened to one packet.
public enum PacketDisposition: Equatable, Sendable {
    /// It belongs to the flow in `slot`.
    case flow(slot: Int32, fromClient: Bool)
    case fragment
    case notIP
    /// Taken by a μStack before any flow exists (a handshake answered by SYN cookie, ARP).
    case answered
    case malformed(MalformedReason)
}

/// One worker's path for packets, stage by stage, in the order they travel:
/// parse → flow table → the flow's μStack (L2/L3, TCP Monitor (→ reassembly) or TCP
/// Splicer, chosen per flow by the stack selector) → outbox of emitted frames.
///
/// Each stage hands its result to the next by value; none reaches back. After
/// `process(_:)`, the packet's outputs are in `chunks` (reassembled bytes and gaps) and
/// `endedFlows` (flows that ended while it was processed); both are valid until the
/// next call. Nothing is allocated per packet in the steady state.
public final class DataPath {
    public let configuration: DataPathConfiguration
    public let flows: FlowTable
    public let monitor: TCPMonitor
    public private(set) var counters = DataPathCounters()
    /// The last packet's headers (at a stable address, so events can point at them) and,
    /// for TCP, what the monitor made of it.
    public let headers: UnsafeMutablePointer<PacketHeaders>
    public private(set) var tcpResult: TCPPacketResult?
    /// Whether the last packet started a new flow.
    public private(set) var startedFlow = false
    public private(set) var endedFlows: [FlowEnd] = []
    /// When the last packet completed a fragmented IP datagram: the datagram, which the
    /// later stages read in the packet's place (valid until the next packet).
    public private(set) var reassembledPacket: CapturedPacket?
    let defragmenter: IPDefragmenter
    /// What was wrong with the last packet below TCP (empty for nearly every packet).
    public private(set) var anomalies = PacketAnomalies()
    /// Per flow slot: the flow's packets had a damaged transport header (no TCP state).
    private let transportless: UnsafeMutablePointer<Bool>
    /// Why the last packet was refused, when it was.
    public private(set) var malformed: MalformedReason?
    /// Tunneled flows' outer headers by flow ID (kept one packet past the flow's end, so
    /// what its end produced can still name its tunnel).
    private var tunnels: [UInt64: TunnelEndpoints] = [:]
    private var endedTunnels: [UInt64] = []
    /// What IP defragmentation counted.
    public var defragmentation: DefragmentationCounters { defragmenter.counters }
    /// Picks each new flow's stack; `stackOf` records it per flow slot.
    public let selector: StackSelector
    private let stackOf: UnsafeMutablePointer<StackKind>
    /// The TCP Splicer, when a selector rule uses it (or the Split Proxy, whose
    /// connections it sets up).
    public let splicer: TCPSplicer?
    /// The TCP Split Proxy, when a selector rule uses it.
    public let splitProxy: TCPSplitProxy?
    /// ARP for the addresses stacks own and need (nil when no stack owns one).
    public let arp: ARPResponder?
    /// Whether a stack that takes decisions runs (the Splicer, the Split Proxy): read per
    /// packet by the later stages, which skip their calls for such stacks otherwise.
    public let runsActiveStacks: Bool
    /// Frames the stages emitted while processing the last packet, for the port to send.
    public let outbox = FrameOutbox()
    /// Whether the last packet's stack took it (it must not be forwarded as it is).
    public private(set) var consumed = false
    /// Whether a packet is being processed (from `process` until the NFs' decision is
    /// applied), and flows ended outside that (by what the NFs decided). Declared last: the
    /// fields every packet reads keep their places.
    private var inPacket = false
    private var endedBetweenPacketsPending = false
    private var endedBetweenPackets: [FlowEnd] = []

    public init(configuration: DataPathConfiguration = DataPathConfiguration()) {
        self.configuration = configuration
        flows = FlowTable(configuration: configuration.flowTable)
        monitor = TCPMonitor(capacity: configuration.flowTable.capacity, reassembly: configuration.reassembly)
        defragmenter = IPDefragmenter(configuration: configuration.defragmentation)
        headers = .allocate(capacity: 1)
        headers.initialize(to: PacketHeaders())
        headers.pointee.tunnelLimit = configuration.tunnelDepth
        transportless = .allocate(capacity: configuration.flowTable.capacity)
        transportless.initialize(repeating: false, count: configuration.flowTable.capacity)
        selector = configuration.selector
        stackOf = .allocate(capacity: configuration.flowTable.capacity)
        stackOf.initialize(repeating: selector.defaultStack, count: configuration.flowTable.capacity)
        if selector.stacks.contains(where: \.answersClients) {
            splicer = TCPSplicer(configuration: configuration.splicer ?? SplicerConfiguration(services: []), flows: flows,
                                 outbox: outbox)
        } else {
            splicer = nil
        }
        splitProxy = selector.stacks.contains(.tcpSplitProxy)
            ? TCPSplitProxy(configuration: configuration.splitProxy, flowCapacity: configuration.flowTable.capacity, outbox: outbox)
            : nil
        runsActiveStacks = splicer != nil || splitProxy != nil
        let owned = (splicer?.configuration.services ?? []).map { (address: $0.address, mac: $0.mac) }
        arp = owned.isEmpty ? nil : ARPResponder(owned: owned, outbox: outbox)
        endedFlows.reserveCapacity(16)
        splicer?.slots = self
        splicer?.neighbours = arp
    }

    deinit {
        headers.deallocate()
        transportless.deallocate()
        stackOf.deallocate()
    }

    /// Reassembled chunks the last packet (or `finishAll()`) produced.
    public var chunks: UnsafeBufferPointer<StreamChunk> { monitor.chunks }

    /// The request the last packet completed on a splicing stack, for `FLOW_REQ` (valid
    /// until the next packet): its client leg, its bytes, and how many backends refused it.
    @inline(__always)
    public var pendingRequest: (slot: Int32, bytes: UnsafeRawBufferPointer, attempt: Int)? { splicer?.request }

    /// How many byte-stream chunks the Split Proxy staged for the NFs while processing the
    /// last packet (at most one each way), for `BYTESTREAM`; `stagedChunk(_:)` reads one.
    /// (Counted, not handed over as an array: no reference counting per packet.)
    @inline(__always)
    public var stagedChunkCount: Int { splitProxy?.staged.count ?? 0 }

    @inline(__always)
    public func stagedChunk(_ index: Int) -> ByteStreamChunk { splitProxy!.staged[index] }

    /// What the TCP Monitor knows of the flow in `slot`.
    @inline(__always)
    public func tcpState(_ slot: Int32) -> TCPMonitor.FlowState { monitor.state(slot) }

    /// How far the flow in `slot`'s reassembled stream reached each way (zero without reassembly).
    @inline(__always)
    public func streamOffsets(_ slot: Int32) -> (toServer: UInt64, toClient: UInt64) {
        guard let reassembler = monitor.reassembler else { return (0, 0) }
        return (reassembler.offset(slot: slot, direction: .toServer), reassembler.offset(slot: slot, direction: .toClient))
    }

    /// Whether the data path reassembles streams.
    public var reassembles: Bool { monitor.reassembler != nil }

    /// Bytes of state per flow without reassembly: flow table entry plus TCP Monitor.
    public var bytesPerFlow: Int { flows.bytesPerFlow + TCPMonitor.bytesPerFlow }

    /// The μStack the flow in `slot` runs on.
    @inline(__always)
    public func stack(of slot: Int32) -> StackKind { stackOf[Int(slot)] }

    /// Runs one packet through every stage.
    @inline(__always)
    public func process(_ packet: CapturedPacket) -> PacketDisposition {
        inPacket = true
        monitor.beginPacket()
        if outbox.count > 0 { outbox.removeAll() }
        consumed = false
        splicer?.beginPacket()
        if !endedFlows.isEmpty { endedFlows.removeAll(keepingCapacity: true) }
        if endedBetweenPacketsPending { takeEndedBetweenPackets() }
        if !endedTunnels.isEmpty { forgetEndedTunnels() }
        tcpResult = nil
        startedFlow = false
        reassembledPacket = nil
        anomalies = []
        malformed = nil
        counters.packets &+= 1
        counters.bytes &+= UInt64(packet.data.count)

        // Parse.
        switch PacketParser.parse(packet.data, linkType: packet.linkType, into: &headers.pointee) {
        case .ok:
            break
        case .fragment:
            counters.fragments &+= 1
            let whole = defragmenter.add(packet.data, headers: headers.pointee, timestamp: packet.timestamp)
            anomalies.formUnion(defragmenter.findings)
            guard let whole else { return .fragment }
            // The datagram is whole: it goes on as a raw IP packet in the fragment's place.
            let datagram = CapturedPacket(timestamp: packet.timestamp, data: whole, originalLength: UInt32(whole.count),
                                          linkType: .raw, interfaceID: packet.interfaceID)
            reassembledPacket = datagram
            switch PacketParser.parse(datagram.data, linkType: .raw, into: &headers.pointee) {
            case .ok: break
            case .fragment, .notIP: return .fragment
            case let .malformed(reason):
                counters.malformed.count(reason)
                malformed = reason
                guard reason.isTransportLevel else { return .malformed(reason) }
                headers.pointee.dropTransport()
            }
        case .notIP:
            counters.notIP &+= 1
            if let arp { return resolve(packet, arp) }
            return .notIP
        case let .malformed(reason):
            counters.malformed.count(reason)
            malformed = reason
            // A damaged transport header behind a sound IP header: the packet stays visible
            // to IP-level rules (Suricata's decoder keeps it without its transport layer).
            guard reason.isTransportLevel else { return .malformed(reason) }
            headers.pointee.dropTransport()
        }
        // Read in place (and passed on as a 5-tuple or by pointer): a copy of the headers
        // costs a 130-byte memcpy call per packet.
        let parsed = UnsafePointer(self.headers)
        if malformed == nil {
            if parsed.pointee.ipVersion == 4 { counters.ipv4 &+= 1 } else { counters.ipv6 &+= 1 }
            switch parsed.pointee.ipProtocol {
            case IPProtocolNumber.tcp: counters.tcp &+= 1
            case IPProtocolNumber.udp: counters.udp &+= 1
            default: counters.otherTransport &+= 1
            }
        }

        // Flow table.
        let now = packet.timestamp
        while let idle = flows.expiredSlot(now: now) { end(idle, reason: .idleTimeout) }
        let hash = SymmetricFlowHash.hash(source: parsed.pointee.source, sourcePort: parsed.pointee.sourcePort,
                                          destination: parsed.pointee.destination, destinationPort: parsed.pointee.destinationPort,
                                          ipProtocol: parsed.pointee.ipProtocol) ^ parsed.pointee.encapsulation
        let tuple = FlowKey(sourceOf: parsed)
        var match = flows.lookup(tuple, hash: hash, now: now)
        if let existing = match, parsed.pointee.isTCP, isNewConnection(existing, parsed) {
            end(existing.slot, reason: .reused)
            match = nil
        }
        let flow: FlowMatch
        if let match {
            flow = match
        } else {
            guard let opened = openFlow(packet, parsed, tuple: tuple, hash: hash, now: now) else { return .answered }
            flow = opened
        }

        // μStack.
        // The Monitor's flows first: they are the many, and the active stacks' work is out of line.
        let stack = stackOf[Int(flow.slot)]
        if stack == .tcpMonitor {
            if parsed.pointee.isTCP {
                let data = (reassembledPacket ?? packet).data
                if parsed.pointee.payloadLength > 0, !checksumHolds(data, parsed.pointee) {
                    counters.badChecksums &+= 1
                    anomalies.insert(.invalidChecksum)
                } else {
                    tcpResult = monitor.process(slot: flow.slot, headers: parsed.pointee, packet: data, fromClient: flow.fromClient)
                }
            }
        } else if stack != .l2l3 {
            return throughSplicer(packet, parsed, flow, stack: stack)
        }
        return .flow(slot: flow.slot, fromClient: flow.fromClient)
    }

    /// A packet that matched no flow: picks its stack and opens its flow there (nil when its
    /// stack took it without one). Once per flow, so kept out of the per-packet path.
    @inline(never)
    private func openFlow(_ packet: CapturedPacket, _ parsed: UnsafePointer<PacketHeaders>, tuple: FlowKey, hash: UInt32,
                          now: UInt64) -> FlowMatch? {
        // Stack selection, once per flow.
        var stack = selector.rules.isEmpty ? selector.defaultStack : selector.select(parsed.pointee)
        var service = 0
        var cookie: SynCookies.Facts?
        if stack.answersClients {
            // Only a handshake completed by a valid cookie makes a flow: a SYN flood
            // costs no flow entry.
            guard let splicer, let found = splicer.service(for: parsed.pointee) else {
                stack = parsed.pointee.isTCP ? .tcpMonitor : .l2l3
                return startFlowless(stack: stack)
            }
            service = found
            guard case let .open(facts) = splicer.unknown(packet, headers: parsed.pointee, service: found, seconds: now / 1_000_000_000)
            else { return startFlowless(stack: stack) }
            cookie = facts
        }
        if flows.isFull, let oldest = flows.oldestSlot { end(oldest, reason: .evicted) }
        // A SYN-ACK seen first was sent by the server.
        let sourceIsClient = !(parsed.pointee.isTCP && parsed.pointee.tcpFlags.contains([.syn, .ack]))
        let flow = flows.insert(tuple, hash: hash, sourceIsClient: sourceIsClient, now: now)
        startedFlow = true
        if stack == .tcpMonitor, !parsed.pointee.isTCP { stack = .l2l3 }
        stackOf[Int(flow.slot)] = stack
        counters.countFlow(on: stack)
        if parsed.pointee.tunnelDepth > 0 { rememberTunnel(of: flows.flowID(flow.slot), parsed.pointee) }
        // A flow of packets whose TCP header was damaged has no TCP state.
        transportless[Int(flow.slot)] = parsed.pointee.transportDamaged
        if stack.answersClients {
            splicer!.open(slot: flow.slot, service: service, headers: parsed.pointee, packet: packet, facts: cookie!)
        } else if stack == .tcpMonitor {
            var policies: (toServer: TargetPolicy, toClient: TargetPolicy)?
            if let table = configuration.streamPolicies {
                let key = flows.key(flow.slot)
                policies = (table.policy(for: key.server), table.policy(for: key.client))
            }
            monitor.open(slot: flow.slot, flowID: flows.flowID(flow.slot), reassemble: configuration.reassembly != nil,
                         policies: policies)
        }
        return flow
    }

    /// An ARP frame, when stacks own addresses: answered or learnt from; a stack waiting
    /// for the sender's address is told.
    @inline(never)
    private func resolve(_ packet: CapturedPacket, _ arp: ARPResponder) -> PacketDisposition {
        let (taken, learnt) = arp.handle(packet)
        if let learnt { splicer?.addressResolved(learnt) }
        guard taken else { return .notIP }
        consumed = true
        counters.consumedByStack &+= 1
        return .answered
    }

    /// A packet of a spliced connection. NFs know it as one flow, its client leg: a
    /// backend's packets are its server side.
    @inline(never)
    private func throughSplicer(_ packet: CapturedPacket, _ parsed: UnsafePointer<PacketHeaders>, _ flow: FlowMatch,
                                stack: StackKind) -> PacketDisposition {
        guard let splicer else { return .flow(slot: flow.slot, fromClient: flow.fromClient) }
        // Read first: a refusal drops the backend leg.
        let client = splicer.clientLeg(of: flow.slot)
        let isBackendLeg = splicer.isBackendLeg(flow.slot)
        if stack == .tcpSplitProxy, let splitProxy, splitProxy.owns(flow.slot) {
            consumed = true
            counters.consumedByStack &+= 1
            guard checksumHolds(packet.data, parsed.pointee) else {
                counters.badChecksums &+= 1
                anomalies.insert(.invalidChecksum)
                return .answered
            }
            guard let clientLeg = splitProxy.process(slot: flow.slot, headers: parsed.pointee, packet: packet, now: packet.timestamp)
            else { return .answered }
            return .flow(slot: clientLeg, fromClient: !isBackendLeg)
        }
        if case .consumed = splicer.process(slot: flow.slot, headers: parsed.pointee, packet: packet, fromClient: flow.fromClient) {
            consumed = true
            counters.consumedByStack &+= 1
        }
        if let handoff = splicer.handoff, let splitProxy {
            splitProxy.adopt(handoff, flowID: flows.flowID(handoff.clientLeg), now: packet.timestamp)
            splicer.handedOff(handoff.clientLeg)
        }
        if let client { return .flow(slot: client, fromClient: false) }
        if isBackendLeg { return .answered }
        return .flow(slot: flow.slot, fromClient: flow.fromClient)
    }

    /// Carries out what the NFs decided about the packet just processed: the Splicer's request answered, connected or
    /// refused; the Split Proxy's staged bytes committed with the NFs' edits; a reject
    /// answered. The chain resets the decision before its next packet. (Needed only with
    /// `runsActiveStacks` or a reject: callers skip it otherwise.)
    @inline(__always)
    public func apply(_ decision: inout StackDecision, to packet: CapturedPacket, disposition: PacketDisposition) {
        // Only the Splicer and the Split Proxy take decisions beyond a reject: a data path
        // without them pays one test per packet.
        if splicer != nil { applyToSplicingStacks(&decision, now: packet.timestamp) }
        if decision.reject, case .flow = disposition {
            // A packet that completed a datagram is answered as the datagram.
            RejectResponder.reject(reassembledPacket ?? packet, headers: headers.pointee, into: outbox)
        }
    }

    /// Flows a decision ended after the last packet's events: reported with this one's.
    @inline(never)
    private func takeEndedBetweenPackets() {
        endedFlows.append(contentsOf: endedBetweenPackets)
        endedBetweenPackets.removeAll(keepingCapacity: true)
        endedBetweenPacketsPending = false
    }

    @inline(never)
    private func applyToSplicingStacks(_ decision: inout StackDecision, now: UInt64) {
        // From here until the next packet, flows that end are reported with the next one.
        inPacket = false
        if let request = splicer?.request {
            if let response = decision.response, response.slot == request.slot,
               answer(request.slot, response: response.bytes, close: response.close, now: now) {
                // Answered by an NF: the TCP Endpoint.
            } else if let choice = decision.backend, choice.slot == request.slot {
                connect(choice, now: now)
            } else {
                refuse(request.slot)
            }
        }
        if let splitProxy, !splitProxy.staged.isEmpty {
            splitProxy.commit(decision.streamEdits, now: now)
        }
        decision.reset()
    }

    /// An NF picked a backend for the splicer's request: connect (the splicer opens the
    /// backend leg's flow through `FlowSlots`).
    public func connect(_ choice: BackendChoice, now: UInt64) {
        splicer?.connect(choice, now: now)
    }

    /// Runs the stacks' timers (the Split Proxy's retransmissions, persist probes and
    /// delayed ACKs); what they send is in `outbox` afterwards, with absolute egress.
    public func tick(now: UInt64) {
        guard let splitProxy else { return }
        inPacket = false
        if outbox.count > 0 { outbox.removeAll() }
        splitProxy.tick(now: now)
    }

    /// An NF answered the splicer's request itself (`response`, then a FIN when `close`):
    /// on a split service the connection becomes a TCP Endpoint — the Split Proxy takes
    /// the client's side and no backend is connected. False when the service splices (the
    /// request then needs a backend).
    public func answer(_ slot: Int32, response: [UInt8], close: Bool, now: UInt64) -> Bool {
        guard let splicer, let splitProxy, let handoff = splicer.handOffAnswered(slot) else { return false }
        splitProxy.adopt(handoff, flowID: flows.flowID(slot), now: now, response: (response, close))
        splicer.handedOff(slot)
        return true
    }

    /// No NF picked a backend for the splicer's request: the client is refused.
    public func refuse(_ slot: Int32) { splicer?.refuse(slot) }

    /// Whether a TCP packet for an existing flow starts a new connection on its 4-tuple
    /// (the old flow then ends first).
    @inline(__always)
    private func isNewConnection(_ existing: FlowMatch, _ parsed: UnsafePointer<PacketHeaders>) -> Bool {
        switch stackOf[Int(existing.slot)] {
        case .tcpMonitor:
            return monitor.isNewConnection(slot: existing.slot, headers: parsed.pointee, fromClient: existing.fromClient)
        case .tcpSplicer, .tcpSplitProxy:
            // A client's fresh SYN (not a retransmission) on a tuple the splicer saw before.
            guard existing.fromClient, parsed.pointee.tcpFlags.contains(.syn), !parsed.pointee.tcpFlags.contains(.ack),
                  let splicer, !splicer.isBackendLeg(existing.slot) else { return false }
            return !splicer.isRetransmittedSYN(existing.slot, sequence: parsed.pointee.sequence)
        case .l2l3:
            return false
        }
    }

    /// A packet its stack took before a flow existed (or one for a splicer service that
    /// cannot be spliced, which goes on flowless).
    private func startFlowless(stack: StackKind) -> FlowMatch? {
        if stack.answersClients {
            consumed = true
            counters.consumedByStack &+= 1
        }
        return nil
    }

    /// The outermost tunnel a flow travels in, nil for a flow in none.
    public func tunnel(ofFlow flowID: UInt64) -> TunnelEndpoints? {
        tunnels.isEmpty ? nil : tunnels[flowID]
    }

    private func rememberTunnel(of flowID: UInt64, _ headers: PacketHeaders) {
        tunnels[flowID] = TunnelEndpoints(source: headers.tunnelSource, destination: headers.tunnelDestination,
                                          sourcePort: headers.tunnelSourcePort, destinationPort: headers.tunnelDestinationPort,
                                          ipProtocol: headers.tunnelProtocol, depth: headers.tunnelDepth)
    }

    private func forgetEndedTunnels() {
        for flowID in endedTunnels { tunnels[flowID] = nil }
        endedTunnels.removeAll(keepingCapacity: true)
    }

    private var checksumsChecked = 0
    private var checksumsWrong = 0

    /// Whether a data-carrying TCP segment's checksum holds (or is not being checked).
    @inline(__always)
    private func checksumHolds(_ data: UnsafeRawBufferPointer, _ headers: PacketHeaders) -> Bool {
        switch configuration.checksumValidation {
        case .no: return true
        case .auto where counters.checksumValidationOff: return true
        default: break
        }
        let valid = TransportChecksum.isValid(data, headers: headers)
        guard configuration.checksumValidation == .auto, checksumsChecked < 1000 else { return valid }
        checksumsChecked += 1
        if !valid { checksumsWrong += 1 }
        if checksumsChecked == 1000, checksumsWrong * 10 > checksumsChecked { counters.checksumValidationOff = true }
        return valid
    }

    /// Ends every flow (end of input): buffered stream data comes out in `chunks`, the
    /// flows in `endedFlows`.
    public func finishAll() {
        monitor.beginPacket()
        endedFlows.removeAll(keepingCapacity: true)
        if endedBetweenPacketsPending { takeEndedBetweenPackets() }
        if !endedTunnels.isEmpty { forgetEndedTunnels() }
        inPacket = true
        for slot in flows.slotsOldestFirst { end(slot, reason: .endOfInput) }
    }

    private func end(_ slot: Int32, reason: FlowEndReason) {
        let key = flows.key(slot)
        let stack = stackOf[Int(slot)]
        if stack.answersClients, let splicer {
            let internalLeg = splicer.isBackendLeg(slot)
            splitProxy?.close(slot: slot)
            splicer.close(slot: slot)
            // A backend leg is the splicer's own; NFs know the connection by its client leg.
            if internalLeg {
                flows.remove(slot, reason: reason == .evicted ? .evicted : .expired)
                return
            }
        }
        var tcp: TCPMonitor.FlowState?
        if key.ipProtocol == IPProtocolNumber.tcp, stack == .tcpMonitor, !transportless[Int(slot)] {
            monitor.close(slot: slot)
            tcp = monitor.state(slot)
        }
        if !tunnels.isEmpty, tunnels[flows.flowID(slot)] != nil { endedTunnels.append(flows.flowID(slot)) }
        let finalReason: FlowEndReason = (reason == .idleTimeout || reason == .endOfInput) && tcp?.flags.closed == true
            ? .closed : reason
        let ended = FlowEnd(flowID: flows.flowID(slot), slot: slot, key: key, reason: finalReason,
                            firstSeen: flows.firstSeen(slot), lastSeen: flows.lastSeen(slot), tcp: tcp)
        if inPacket {
            endedFlows.append(ended)
        } else {
            endedBetweenPackets.append(ended)
            endedBetweenPacketsPending = true
        }
        let removal: FlowTable.RemovalReason
        switch reason {
        case .idleTimeout: removal = .expired
        case .evicted: removal = .evicted
        case .endOfInput: removal = .endOfInput
        case .closed, .reused: removal = .closed
        }
        flows.remove(slot, reason: removal)
    }
}

extension DataPath: FlowSlots {
    /// A stack's own flow (the Splicer's backend leg): recorded on `stack` like any other,
    /// so it ends through `end` like any other.
    public func openFlow(_ key: FlowKey, hash: UInt32, on stack: StackKind, now: UInt64) -> Int32? {
        if let stale = flows.lookup(key, hash: hash, now: now) { end(stale.slot, reason: .reused) }
        guard !flows.isFull else { return nil }
        let flow = flows.insert(key, hash: hash, sourceIsClient: true, now: now)
        // A leg is the stack's own: NFs know the connection by its client leg's flow.
        stackOf[Int(flow.slot)] = stack
        transportless[Int(flow.slot)] = false
        return flow.slot
    }

    public func endFlow(_ slot: Int32) { end(slot, reason: .closed) }
}

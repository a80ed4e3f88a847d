import MBoxCapture
import MBoxFlow
import MBoxPacket
import MBoxTCP

/// What happened to one packet.
public enum PacketDisposition: Equatable, Sendable {
    /// It belongs to the flow in `slot`.
    case flow(slot: Int32, fromClient: Bool)
    case fragment
    case notIP
    case malformed(MalformedReason)
}

/// One worker's path for packets, stage by stage, in the order they travel:
/// parse → flow table → TCP Monitor μStack (→ reassembly).
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
        endedFlows.reserveCapacity(16)
    }

    deinit {
        headers.deallocate()
        transportless.deallocate()
    }

    /// Reassembled chunks the last packet (or `finishAll()`) produced.
    public var chunks: UnsafeBufferPointer<StreamChunk> { monitor.chunks }

    /// Bytes of state per flow without reassembly: flow table entry plus TCP Monitor.
    public var bytesPerFlow: Int { flows.bytesPerFlow + TCPMonitor.bytesPerFlow }

    /// Runs one packet through every stage.
    @inline(__always)
    public func process(_ packet: CapturedPacket) -> PacketDisposition {
        monitor.beginPacket()
        if !endedFlows.isEmpty { endedFlows.removeAll(keepingCapacity: true) }
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
        if let existing = match, parsed.pointee.isTCP, configuration.tracksTCP,
           monitor.isNewConnection(slot: existing.slot, headers: parsed.pointee, fromClient: existing.fromClient) {
            end(existing.slot, reason: .reused)
            match = nil
        }
        let flow: FlowMatch
        if let match {
            flow = match
        } else {
            if flows.isFull, let oldest = flows.oldestSlot { end(oldest, reason: .evicted) }
            // A SYN-ACK seen first was sent by the server.
            let sourceIsClient = !(parsed.pointee.isTCP && parsed.pointee.tcpFlags.contains([.syn, .ack]))
            flow = flows.insert(tuple, hash: hash, sourceIsClient: sourceIsClient, now: now)
            startedFlow = true
            if parsed.pointee.tunnelDepth > 0 { rememberTunnel(of: flows.flowID(flow.slot), parsed.pointee) }
            // A flow of packets whose TCP header was damaged has no TCP state.
            transportless[Int(flow.slot)] = parsed.pointee.transportDamaged
            if parsed.pointee.isTCP, configuration.tracksTCP {
                var policies: (toServer: TargetPolicy, toClient: TargetPolicy)?
                if let table = configuration.streamPolicies {
                    let key = flows.key(flow.slot)
                    policies = (table.policy(for: key.server), table.policy(for: key.client))
                }
                monitor.open(slot: flow.slot, flowID: flows.flowID(flow.slot), reassemble: configuration.reassembly != nil,
                             policies: policies)
            }
        }

        // μStack.
        if parsed.pointee.isTCP, configuration.tracksTCP {
            let data = (reassembledPacket ?? packet).data
            if parsed.pointee.payloadLength > 0, !checksumHolds(data, parsed.pointee) {
                counters.badChecksums &+= 1
                anomalies.insert(.invalidChecksum)
            } else {
                tcpResult = monitor.process(slot: flow.slot, headers: parsed.pointee, packet: data, fromClient: flow.fromClient)
            }
        }
        return .flow(slot: flow.slot, fromClient: flow.fromClient)
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
        if !endedTunnels.isEmpty { forgetEndedTunnels() }
        for slot in flows.slotsOldestFirst { end(slot, reason: .endOfInput) }
    }

    private func end(_ slot: Int32, reason: FlowEndReason) {
        let key = flows.key(slot)
        var tcp: TCPMonitor.FlowState?
        if key.ipProtocol == IPProtocolNumber.tcp, configuration.tracksTCP, !transportless[Int(slot)] {
            monitor.finish(slot: slot)
            tcp = monitor.state(slot)
        }
        if !tunnels.isEmpty, tunnels[flows.flowID(slot)] != nil { endedTunnels.append(flows.flowID(slot)) }
        let finalReason: FlowEndReason = (reason == .idleTimeout || reason == .endOfInput) && tcp?.flags.closed == true
            ? .closed : reason
        endedFlows.append(FlowEnd(flowID: flows.flowID(slot), slot: slot, key: key, reason: finalReason,
                                  firstSeen: flows.firstSeen(slot), lastSeen: flows.lastSeen(slot), tcp: tcp))
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

import MBoxCapture
import MBoxFlow
import MBoxPacket
import MBoxTransmit

/// The TCP Splicer μStack, for L7 load balancers: it answers a client's handshake for a
/// service itself (SYN cookies: no state before the handshake completes), holds the
/// first request bytes and asks the NFs for a backend (`FLOW_REQ`), opens the backend
/// connection with the client's ISN and options, replays the request, and from then on
/// splices: each packet is forwarded with its addresses, sequence/acknowledgment numbers,
/// timestamps, SACK blocks and window translated in place (checksums updated
/// incrementally), never copied.
///
/// Each connection has two flows in the flow table: the client's leg (client → service)
/// and the backend's leg (client → backend), which the splicer registers when it
/// connects. Client sequence numbers pass unchanged (the backend sees the client's ISN);
/// the backend's are shifted by `delta` so the client sees the cookie's.
public final class TCPSplicer: MicroStack {
    public static var kind: StackKind { .tcpSplicer }

    public let configuration: SplicerConfiguration
    public private(set) var counters = SplicerCounters()
    /// Where emitted frames go until the port sends them.
    public let outbox: FrameOutbox
    /// The data path's ARP: backends' Ethernet addresses, asked for when unknown.
    public weak var neighbours: (any Neighbours)?
    /// Read for keys and flow IDs; changed only through `slots`.
    private let flows: FlowTable
    /// The data path, which opens and ends the backend legs' flows.
    public weak var slots: (any FlowSlots)?
    private let cookies = SynCookies()
    private let splices: UnsafeMutablePointer<Splice>
    private let capacity: Int
    private let holdStorage: UnsafeMutableRawPointer
    private var freeHolds: [Int32]
    /// Client legs waiting for a backend's Ethernet address.
    private var resolving: [Int32] = []

    /// The request the last packet completed, for `FLOW_REQ` (valid until the next packet):
    /// its client leg and bytes; `attempt` counts earlier backends that refused.
    public private(set) var request: (slot: Int32, bytes: UnsafeRawBufferPointer, attempt: Int)?
    /// Whether the last packet came from the client's side (frames for backends then go onward).
    private var packetFromClientSide = true

    /// The backend's choice of our scale toward clients that scale windows.
    static let ourWindowScale: UInt8 = 7

    public init(configuration: SplicerConfiguration, flows: FlowTable, outbox: FrameOutbox) {
        self.configuration = configuration
        self.flows = flows
        self.outbox = outbox
        capacity = flows.configuration.capacity
        splices = .allocate(capacity: capacity)
        splices.initialize(repeating: Splice(), count: capacity)
        holdStorage = .allocate(byteCount: configuration.holdBuffers * SplicerConfiguration.requestLimit, alignment: 16)
        freeHolds = (0..<Int32(configuration.holdBuffers)).reversed()
        resolving.reserveCapacity(64)
    }

    deinit {
        splices.deallocate()
        holdStorage.deallocate()
    }

    /// The service a new flow's first packet addresses, if the splicer answers for it.
    @inline(__always)
    public func service(for headers: PacketHeaders) -> Int? {
        guard headers.isTCP, headers.ipVersion == 4 else { return nil }
        return configuration.services.firstIndex { $0.address == headers.destination && $0.port == headers.destinationPort }
    }

    /// Whether a client's SYN on client leg `slot` repeats the one that opened it (same
    /// ISN): a retransmission, not a new connection on the same 4-tuple.
    public func isRetransmittedSYN(_ slot: Int32, sequence: UInt32) -> Bool {
        let splice = splices[Int(slot)]
        return !splice.isBackendLeg && splice.phase != .idle && splice.clientISN == sequence
    }

    /// Whether `slot` is a backend leg (an internal flow NFs do not see).
    public func isBackendLeg(_ slot: Int32) -> Bool { splices[Int(slot)].isBackendLeg }

    /// A split connection whose backend answered during the last packet, for the Split
    /// Proxy to take over (valid until the next packet).
    public private(set) var handoff: SplitHandoff?

    public func beginPacket() {
        request = nil
        handoff = nil
    }

    // MARK: Before the handshake completes (no flow)

    /// What to do with a packet for a service that has no flow.
    public enum Unknown {
        /// Answered (or ignored); the packet goes no further.
        case consumed
        /// A valid cookie, saying what the client's SYN offered: open a client leg with
        /// it, then `process` the packet.
        case open(SynCookies.Facts)
    }

    /// A packet for service `service` that matched no flow: a SYN gets a cookie SYN-ACK, an
    /// ACK with a valid cookie opens the connection, anything else gets a RST (or nothing).
    public func unknown(_ packet: CapturedPacket, headers: PacketHeaders, service: Int, seconds: UInt64) -> Unknown {
        let flags = headers.tcpFlags
        if flags.contains(.rst) { return .consumed }
        guard let link = LinkFraming(replyingTo: packet, headers: headers) else {
            outbox.countUnframeable()
            return .consumed
        }
        if flags.contains(.syn), !flags.contains(.ack) {
            var answer = EmittedSegment(source: headers.destination, destination: headers.source,
                                        sourcePort: headers.destinationPort, destinationPort: headers.sourcePort,
                                        sequence: cookies.sequence(forSYN: headers, seconds: seconds),
                                        acknowledgment: headers.sequence &+ 1, flags: [.syn, .ack],
                                        window: UInt16(SplicerConfiguration.requestLimit))
            answer.options.mss = 1460
            if headers.tcpOptions.hasTimestamps {
                answer.options.timestamps = (cookies.timestamp(forSYN: headers, milliseconds: seconds * 1000 + UInt64(packet.timestamp / 1_000_000 % 1000)),
                                             headers.tcpOptions.timestampValue)
                if headers.tcpOptions.hasWindowScale { answer.options.windowScale = Self.ourWindowScale }
                answer.options.sackPermitted = headers.tcpOptions.sackPermitted
            }
            if outbox.emit(.back, { SegmentWriter.tcp(answer, link: link, into: $0) }) { counters.synCookiesSent &+= 1 }
            return .consumed
        }
        if flags.contains(.ack), !flags.contains(.syn), let facts = cookies.check(ack: headers, seconds: seconds) {
            return .open(facts)
        }
        if flags.contains(.ack) {
            counters.cookiesRejected &+= 1
            let reset = EmittedSegment(source: headers.destination, destination: headers.source, sourcePort: headers.destinationPort,
                                       destinationPort: headers.sourcePort, sequence: headers.acknowledgment, acknowledgment: 0,
                                       flags: .rst, window: 0)
            outbox.emit(.back) { SegmentWriter.tcp(reset, link: link, into: $0) }
        }
        return .consumed
    }

    /// Opens the client leg in `slot` for the ACK in `headers`, whose cookie `unknown` checked.
    public func open(slot: Int32, service: Int, headers: PacketHeaders, packet: CapturedPacket, facts: SynCookies.Facts) {
        var splice = Splice()
        splice.phase = .awaitingRequest
        splice.service = UInt8(service)
        splice.cookieISN = headers.acknowledgment &- 1
        splice.clientISN = headers.sequence &- 1
        splice.mss = facts.mss
        splice.clientScale = facts.windowScale
        splice.sackPermitted = facts.sackPermitted
        splice.timestamps = facts.timestamps
        splice.ourTimestamp = headers.tcpOptions.timestampEcho
        splice.ourScale = facts.windowScale == 15 ? 0 : Self.ourWindowScale
        if packet.linkType == .ethernet, packet.data.count >= 14 { splice.clientMAC = MACAddress(packet.data, at: 6) }
        splice.clientInterface = packet.interfaceID
        splices[Int(slot)] = splice
        counters.cookiesAccepted &+= 1
    }

    // MARK: Packets of open connections

    /// What became of a packet of a spliced connection.
    public enum Outcome: Equatable {
        /// Rewritten in place; it goes on.
        case forward
        /// Taken by the splicer (held, answered, or of no use to the other side).
        case consumed
    }

    /// A packet of a connection the splicer owns (`slot` is either leg).
    public func process(slot: Int32, headers: PacketHeaders, packet: CapturedPacket, fromClient: Bool) -> Outcome {
        let index = Int(slot)
        if splices[index].isBackendLeg {
            packetFromClientSide = false
            return fromBackend(leg: slot, client: splices[index].peer, packet: packet, headers: headers)
        }
        packetFromClientSide = true
        return fromClient ? fromClientSide(slot, packet: packet, headers: headers) : .consumed
    }

    private func fromClientSide(_ slot: Int32, packet: CapturedPacket, headers: PacketHeaders) -> Outcome {
        let index = Int(slot)
        let flags = headers.tcpFlags
        if flags.contains(.syn) {
            // A retransmitted SYN: the client may have missed our SYN-ACK, so it gets it again
            // (the cookie is the same within its period); later it is of no use.
            if splices[index].phase == .awaitingRequest, !flags.contains(.ack) {
                _ = unknown(packet, headers: headers, service: Int(splices[index].service), seconds: packet.timestamp / 1_000_000_000)
            }
            return .consumed
        }
        splices[index].clientWindow = headers.window
        if headers.tcpOptions.hasTimestamps { splices[index].clientTimestamp = headers.tcpOptions.timestampValue }
        switch splices[index].phase {
        case .spliced:
            if flags.contains(.rst) { splices[index].phase = .closed }
            translateTowardBackend(slot, packet: packet, headers: headers)
            return .forward
        case .closed:
            // After a RST: let late packets through translated, if the backend is known.
            guard splices[index].backendLeg >= 0 else { return .consumed }
            translateTowardBackend(slot, packet: packet, headers: headers)
            return .forward
        case .awaitingRequest:
            if flags.contains(.rst) || flags.contains(.fin) && headers.payloadLength == 0 {
                release(slot)
                splices[index].phase = .closed
                return .consumed
            }
            guard headers.payloadLength > 0 else { return .consumed }
            guard hold(slot, packet: packet, headers: headers) else { return .consumed }
            counters.requests &+= 1
            splices[index].phase = .requested
            request = (slot, heldBytes(slot), 0)
            return .consumed
        case .requested, .resolving, .connecting:
            if flags.contains(.rst) {
                abandonBackend(slot)
                release(slot)
                splices[index].phase = .closed
                return .consumed
            }
            if headers.payloadLength > 0 { _ = hold(slot, packet: packet, headers: headers) }
            // A retransmitted request while the backend is silent: ask it (or ARP) again.
            if splices[index].phase == .connecting, headers.payloadLength > 0 { retrySYN(slot) }
            if splices[index].phase == .resolving, headers.payloadLength > 0 {
                askARP(for: splices[index].backend, service: Int(splices[index].service))
            }
            return .consumed
        case .idle, .handedOff:
            return .consumed
        }
    }

    private func fromBackend(leg: Int32, client slot: Int32, packet: CapturedPacket, headers: PacketHeaders) -> Outcome {
        guard slot >= 0 else { return .consumed }
        let index = Int(slot)
        let flags = headers.tcpFlags
        switch splices[index].phase {
        case .connecting:
            if flags.contains(.rst) {
                backendRefused(slot, backendReset: true)
                return .consumed
            }
            guard flags.contains([.syn, .ack]), headers.acknowledgment == splices[index].clientISN &+ 1 else { return .consumed }
            if packet.linkType == .ethernet { neighbours?.learn(headers.source, at: MACAddress(packet.data, at: 6)) }
            if configuration.services[Int(splices[index].service)].split {
                handOff(slot, packet: packet, headers: headers)
            } else {
                completeBackendHandshake(slot, packet: packet, headers: headers)
            }
            return .consumed
        case .handedOff:
            return .consumed
        case .spliced, .closed:
            if flags.contains(.syn) {
                // The backend repeating its SYN-ACK (our ACK was lost): acknowledge again.
                if splices[index].phase == .spliced, flags.contains(.ack) { resendHandshakeACK(slot, packet: packet, headers: headers) }
                return .consumed
            }
            if flags.contains(.rst) { splices[index].phase = .closed }
            translateTowardClient(slot, packet: packet, headers: headers)
            return .forward
        default:
            return .consumed
        }
    }

    // MARK: Backends

    /// An NF picked a backend for the request of the last packet: connect to it (asking
    /// for its Ethernet address first when unknown).
    public func connect(_ choice: BackendChoice, now: UInt64) {
        let index = Int(choice.slot)
        guard flows.flowID(choice.slot) == choice.flowID, splices[index].phase == .requested else { return }
        guard choice.address.isIPv4 else { return refuse(choice.slot) }
        splices[index].backend = choice.address
        splices[index].backendPort = choice.port
        splices[index].synAttempts = 0
        // The backend leg's flow: client address and port to the backend.
        let client = flows.key(choice.slot)
        let key = FlowKey(client: client.client, clientPort: client.clientPort, server: choice.address, serverPort: choice.port,
                          ipProtocol: IPProtocolNumber.tcp)
        let hash = SymmetricFlowHash.hash(source: key.client, sourcePort: key.clientPort, destination: key.server,
                                          destinationPort: key.serverPort, ipProtocol: key.ipProtocol)
        let stack: StackKind = configuration.services[Int(splices[index].service)].split ? .tcpSplitProxy : .tcpSplicer
        guard let leg = slots?.openFlow(key, hash: hash, on: stack, now: now) else { return refuse(choice.slot) }
        var backendLeg = Splice()
        backendLeg.isBackendLeg = true
        backendLeg.peer = choice.slot
        splices[Int(leg)] = backendLeg
        splices[index].backendLeg = leg
        splices[index].phase = .connecting
        if let mac = neighbours?.mac(of: choice.address) {
            splices[index].backendMAC = mac
            sendSYN(choice.slot)
        } else {
            splices[index].phase = .resolving
            if resolving.count < configuration.holdBuffers { resolving.append(choice.slot) }
            askARP(for: choice.address, service: Int(splices[index].service))
        }
    }

    /// No NF took the request (or none is left): the client gets a RST.
    public func refuse(_ slot: Int32) {
        let index = Int(slot)
        counters.refused &+= 1
        abandonBackend(slot)
        let service = configuration.services[Int(splices[index].service)]
        let key = flows.key(slot)
        let reset = EmittedSegment(source: service.address, destination: key.client, sourcePort: service.port,
                                   destinationPort: key.clientPort, sequence: splices[index].cookieISN &+ 1,
                                   acknowledgment: splices[index].clientISN &+ 1 &+ UInt32(splices[index].holdLength),
                                   flags: [.rst, .ack], window: 0)
        let link = LinkFraming(destination: splices[index].clientMAC, source: service.mac)
        outbox.emit(packetFromClientSide ? .back : .onward) { SegmentWriter.tcp(reset, link: link, into: $0) }
        release(slot)
        splices[index].phase = .closed
    }

    /// The backend refused (`backendReset`: it sent a RST, so it keeps nothing) or did not
    /// answer our SYNs.
    private func backendRefused(_ slot: Int32, backendReset: Bool) {
        let index = Int(slot)
        counters.backendFailures &+= 1
        let attempt = Int(splices[index].backendsTried) + 1
        splices[index].backendsTried = UInt8(min(attempt, 255))
        abandonBackend(slot, tellBackend: !backendReset)
        if attempt >= configuration.backendsPerRequest { return refuse(slot) }
        // Ask the NFs again: they may pick another backend.
        splices[index].phase = .requested
        request = (slot, heldBytes(slot), attempt)
    }

    /// Drops the backend leg of `slot` (refused, or the client gave up).
    private func abandonBackend(_ slot: Int32, tellBackend: Bool = true) {
        let index = Int(slot)
        let leg = splices[index].backendLeg
        guard leg >= 0 else { return }
        if tellBackend, splices[index].phase == .connecting || splices[index].phase == .spliced {
            // Tell a backend that may have answered to forget the connection.
            emitToBackend(slot, flags: .rst, sequence: splices[index].clientISN &+ 1, acknowledgment: 0, payload: false)
        }
        // The data path ends the leg's flow, and closes it here (`close(slot:)` unlinks it).
        splices[index].backendLeg = -1
        splices[Int(leg)].peer = -1
        slots?.endFlow(leg)
    }

    private func sendSYN(_ slot: Int32) {
        let index = Int(slot)
        splices[index].synAttempts &+= 1
        emitToBackend(slot, flags: .syn, sequence: splices[index].clientISN, acknowledgment: 0, payload: false)
    }

    private func retrySYN(_ slot: Int32) {
        let index = Int(slot)
        if Int(splices[index].synAttempts) >= configuration.attemptsPerBackend {
            backendRefused(slot, backendReset: false)
        } else {
            sendSYN(slot)
        }
    }

    private func completeBackendHandshake(_ slot: Int32, packet: CapturedPacket, headers: PacketHeaders) {
        let index = Int(slot)
        splices[index].delta = headers.sequence &- splices[index].cookieISN
        splices[index].backendScale = headers.tcpOptions.hasWindowScale && splices[index].clientScale != 15
            ? headers.tcpOptions.windowScale : 0
        if headers.tcpOptions.hasTimestamps, splices[index].timestamps {
            splices[index].timestampDelta = headers.tcpOptions.timestampValue &- splices[index].ourTimestamp
            splices[index].backendTimestamp = headers.tcpOptions.timestampValue
        }
        emitToBackend(slot, flags: [.ack, .psh], sequence: splices[index].clientISN &+ 1, acknowledgment: headers.sequence &+ 1,
                      payload: true)
        release(slot)
        splices[index].phase = .spliced
        counters.spliced &+= 1
    }

    /// The backend of a split connection answered: everything both handshakes settled goes
    /// to the Split Proxy, which runs the two connections from here on.
    private func handOff(_ slot: Int32, packet: CapturedPacket, headers: PacketHeaders) {
        let index = Int(slot)
        let splice = splices[index]
        let options = headers.tcpOptions
        var handoff = clientSide(slot)
        handoff.backendMAC = splice.backendMAC
        handoff.backendInterface = packet.interfaceID
        handoff.backendISN = headers.sequence
        handoff.backendMSS = options.mss == 0 ? 536 : options.mss
        // Our SYN offered the client's scale, SACK and timestamps; what the backend took holds.
        let scaled = options.hasWindowScale && splice.clientScale != 15
        handoff.backendScale = scaled ? options.windowScale : 0
        handoff.backendSideScale = scaled ? splice.clientScale : 0
        handoff.backendSACK = options.sackPermitted && splice.sackPermitted
        handoff.backendTimestamps = options.hasTimestamps && splice.timestamps
        handoff.backendTimestamp = options.timestampValue
        handoff.backendWindow = headers.window
        handoff.request = heldBytes(slot)
        splices[index].phase = .handedOff
        counters.handedOff &+= 1
        self.handoff = handoff
    }

    /// The Split Proxy took the connection of `slot` (and copied its request bytes).
    public func handedOff(_ slot: Int32) { release(slot) }

    /// An NF answered the request of client leg `slot` itself (a split service's connection
    /// becomes a TCP Endpoint: no backend is connected): the connection as the Split Proxy
    /// takes it, its request held until `handedOff`. Nil unless the request awaits a backend.
    public func handOffAnswered(_ slot: Int32) -> SplitHandoff? {
        let index = Int(slot)
        guard splices[index].phase == .requested, configuration.services[Int(splices[index].service)].split else { return nil }
        let handoff = clientSide(slot)
        splices[index].phase = .handedOff
        counters.handedOff &+= 1
        return handoff
    }

    /// What the client's handshake settled (and its held request), for the Split Proxy.
    private func clientSide(_ slot: Int32) -> SplitHandoff {
        let splice = splices[Int(slot)]
        let key = flows.key(slot)
        var handoff = SplitHandoff(clientLeg: slot, backendLeg: splice.backendLeg, service: configuration.services[Int(splice.service)],
                                   client: key.client, clientPort: key.clientPort, backend: splice.backend, backendPort: splice.backendPort)
        handoff.clientMAC = splice.clientMAC
        handoff.clientInterface = splice.clientInterface
        handoff.cookieISN = splice.cookieISN
        handoff.clientISN = splice.clientISN
        handoff.clientMSS = splice.mss
        handoff.clientScale = splice.clientScale == 15 ? 0 : splice.clientScale
        handoff.ourScale = splice.ourScale
        handoff.clientSACK = splice.sackPermitted
        handoff.clientTimestamps = splice.timestamps
        handoff.clientTimestamp = splice.clientTimestamp
        handoff.ourTimestamp = splice.ourTimestamp
        handoff.clientWindow = splice.clientWindow
        handoff.request = heldBytes(slot)
        return handoff
    }

    private func resendHandshakeACK(_ slot: Int32, packet: CapturedPacket, headers: PacketHeaders) {
        emitToBackend(slot, flags: .ack, sequence: splices[Int(slot)].clientISN &+ 1, acknowledgment: headers.sequence &+ 1,
                      payload: false)
    }

    /// A segment from the client's address to the backend: the SYN (with the client's
    /// options), the handshake's ACK carrying the held request, or a RST.
    private func emitToBackend(_ slot: Int32, flags: TCPFlags, sequence: UInt32, acknowledgment: UInt32, payload: Bool) {
        let splice = splices[Int(slot)]
        let key = flows.key(slot)
        var segment = EmittedSegment(source: key.client, destination: splice.backend, sourcePort: key.clientPort,
                                     destinationPort: splice.backendPort, sequence: sequence, acknowledgment: acknowledgment,
                                     flags: flags, window: flags.contains(.syn) ? 65535 : splice.clientWindow)
        if flags.contains(.syn) {
            segment.options.mss = splice.mss
            if splice.clientScale != 15 { segment.options.windowScale = splice.clientScale }
            segment.options.sackPermitted = splice.sackPermitted
        }
        if splice.timestamps, !flags.contains(.rst) {
            segment.options.timestamps = (splice.clientTimestamp, flags.contains(.syn) ? 0 : splice.backendTimestamp)
        }
        let service = configuration.services[Int(splice.service)]
        let link = LinkFraming(destination: splice.backendMAC, source: service.mac)
        let bytes = payload ? heldBytes(slot) : UnsafeRawBufferPointer(start: nil, count: 0)
        outbox.emit(packetFromClientSide ? .onward : .back) { SegmentWriter.tcp(segment, payload: bytes, link: link, into: $0) }
    }

    // MARK: Translation

    private func translateTowardBackend(_ slot: Int32, packet: CapturedPacket, headers: PacketHeaders) {
        let splice = splices[Int(slot)]
        let rewriter = SegmentRewriter(packet.data, headers)
        rewriter.setEndpoint(source: false, address: splice.backend, port: splice.backendPort)
        if headers.tcpFlags.contains(.ack) { rewriter.acknowledgment = headers.acknowledgment &+ splice.delta }
        if headers.transportOffset + 20 < headers.payloadOffset {
            rewriter.shiftOptions(valueDelta: 0, echoDelta: splice.timestampDelta, sackDelta: splice.delta)
        }
        rewriter.setMAC(destination: true, splice.backendMAC.bytes)
        counters.packetsRewritten &+= 1
    }

    private func translateTowardClient(_ slot: Int32, packet: CapturedPacket, headers: PacketHeaders) {
        let splice = splices[Int(slot)]
        let service = configuration.services[Int(splice.service)]
        let rewriter = SegmentRewriter(packet.data, headers)
        rewriter.setEndpoint(source: true, address: service.address, port: service.port)
        rewriter.sequence = headers.sequence &- splice.delta
        if headers.transportOffset + 20 < headers.payloadOffset {
            rewriter.shiftOptions(valueDelta: splice.timestampDelta, echoDelta: 0, sackDelta: 0)
        }
        if splice.backendScale != splice.ourScale {
            let bytes = UInt32(headers.window) << UInt32(splice.backendScale)
            rewriter.window = UInt16(min(bytes >> UInt32(splice.ourScale), 65535))
        }
        rewriter.setMAC(destination: false, service.mac.bytes)
        counters.packetsRewritten &+= 1
    }

    // MARK: Backends' addresses

    private func askARP(for address: IPAddress, service: Int) {
        let owner = configuration.services[service]
        neighbours?.ask(for: address, from: owner.address, mac: owner.mac, egress: packetFromClientSide ? .onward : .back)
    }

    /// The data path learnt where `address` is (from an ARP frame): backends waiting for it
    /// are connected.
    public func addressResolved(_ address: IPAddress) {
        if !resolving.isEmpty { connectResolved(address, arrivedFromClientSide: false) }
    }

    private func connectResolved(_ address: IPAddress, arrivedFromClientSide: Bool) {
        guard let mac = neighbours?.mac(of: address) else { return }
        packetFromClientSide = arrivedFromClientSide
        var remaining = 0
        for slot in resolving {
            let index = Int(slot)
            guard splices[index].phase == .resolving else { continue }
            if splices[index].backend == address {
                splices[index].backendMAC = mac
                splices[index].phase = .connecting
                sendSYN(slot)
            } else {
                resolving[remaining] = slot
                remaining += 1
            }
        }
        resolving.removeLast(resolving.count - remaining)
    }

    // MARK: Request bytes

    /// Appends the in-order request bytes of `packet` to the slot's hold buffer; false
    /// when there is no buffer (the client will resend).
    private func hold(_ slot: Int32, packet: CapturedPacket, headers: PacketHeaders) -> Bool {
        let index = Int(slot)
        if splices[index].hold < 0 {
            guard let buffer = freeHolds.popLast() else {
                counters.requestBytesDeferred &+= UInt64(headers.payloadLength)
                return false
            }
            splices[index].hold = buffer
        }
        let expected = splices[index].clientISN &+ 1 &+ UInt32(splices[index].holdLength)
        let length = headers.payloadLength
        let held = Int(splices[index].holdLength)
        guard headers.sequence == expected, held + length <= SplicerConfiguration.requestLimit else {
            // A retransmission of held bytes is no news; anything else waits for a resend.
            if headers.sequence != splices[index].clientISN &+ 1 { counters.requestBytesDeferred &+= UInt64(length) }
            return held > 0
        }
        let destination = holdStorage + Int(splices[index].hold) * SplicerConfiguration.requestLimit + held
        destination.copyMemory(from: packet.data.baseAddress! + headers.payloadOffset, byteCount: length)
        splices[index].holdLength = UInt16(held + length)
        return true
    }

    private func heldBytes(_ slot: Int32) -> UnsafeRawBufferPointer {
        let splice = splices[Int(slot)]
        guard splice.hold >= 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: holdStorage + Int(splice.hold) * SplicerConfiguration.requestLimit,
                                      count: Int(splice.holdLength))
    }

    private func release(_ slot: Int32) {
        let index = Int(slot)
        if splices[index].hold >= 0 { freeHolds.append(splices[index].hold) }
        splices[index].hold = -1
    }

    // MARK: Flow ends

    /// The flow in `slot` ended (either leg): its buffers are freed and its peer unlinked.
    public func close(slot: Int32) { unlink(slot) }

    private func unlink(_ slot: Int32) {
        let index = Int(slot)
        release(slot)
        let peer = splices[index].peer >= 0 ? splices[index].peer : splices[index].backendLeg
        if peer >= 0 {
            if splices[Int(peer)].isBackendLeg { splices[Int(peer)].peer = -1 } else { splices[Int(peer)].backendLeg = -1 }
        }
        splices[index] = Splice()
    }

    /// The phase of the connection whose client leg is `slot` (for tests and counters).
    public func phase(_ slot: Int32) -> String { "\(splices[Int(slot)].phase)" }

    /// The client leg of backend leg `slot`, when it has one.
    @inline(__always)
    public func clientLeg(of slot: Int32) -> Int32? {
        let splice = splices[Int(slot)]
        return splice.isBackendLeg && splice.peer >= 0 ? splice.peer : nil
    }

    /// The backend leg of client leg `slot`, when connected.
    public func backendLeg(of slot: Int32) -> Int32? {
        let leg = splices[Int(slot)].backendLeg
        return leg >= 0 ? leg : nil
    }
}

/// Per-flow splicer state (client legs; a backend leg only points at its client leg).
struct Splice {
    enum Phase: UInt8 { case idle, awaitingRequest, requested, resolving, connecting, spliced, handedOff, closed }
    var phase = Phase.idle
    var isBackendLeg = false
    var service: UInt8 = 0
    var backendsTried: UInt8 = 0
    var synAttempts: UInt8 = 0
    var clientScale: UInt8 = 15
    var ourScale: UInt8 = 0
    var backendScale: UInt8 = 0
    var sackPermitted = false
    var timestamps = false
    var mss: UInt16 = 536
    var clientWindow: UInt16 = 0
    var holdLength: UInt16 = 0
    var backendPort: UInt16 = 0
    /// The client leg's backend leg, or a backend leg's client leg.
    var backendLeg: Int32 = -1
    var peer: Int32 = -1
    var hold: Int32 = -1
    var cookieISN: UInt32 = 0
    var clientISN: UInt32 = 0
    /// Backend sequence − client-facing sequence.
    var delta: UInt32 = 0
    var ourTimestamp: UInt32 = 0
    var clientTimestamp: UInt32 = 0
    var backendTimestamp: UInt32 = 0
    var timestampDelta: UInt32 = 0
    var backend = IPAddress(high: 0, low: 0)
    var backendMAC = MACAddress.zero
    var clientMAC = MACAddress.zero
    /// The port the client's packets arrive by.
    var clientInterface: UInt32 = 0
}

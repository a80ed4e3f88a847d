import MBoxPacket

/// What the monitor counted.
public struct TCPMonitorCounters: Sendable {
    public var packets: UInt64 = 0
    public var invalidResets: UInt64 = 0
    public var outOfWindow: UInt64 = 0
    public var closedFlows: UInt64 = 0
    public var midStreamPickups: UInt64 = 0
}

/// The TCP Monitor μStack: passive tracking of BOTH endpoints' TCP state machines, as
/// Microboxes' monitor does, with optional per-flow byte-stream reassembly.
///
/// Each packet first updates the stack of the endpoint that sent it (what it sent moves
/// its own state: SYN → SYN_SENT, FIN → FIN_WAIT_1 …), then the stack of the endpoint it
/// reaches (what it received: SYN → SYN_RCVD, ACK of its FIN → FIN_WAIT_2 …). Both updates
/// are reported, each with whose stack changed and whose packet caused it.
///
/// State lives in preallocated per-slot storage indexed by the flow table's slot.
public final class TCPMonitor {
    public let capacity: Int
    public private(set) var counters = TCPMonitorCounters()
    /// Nil when no flow reassembles (the μStack is configured without it).
    public let reassembler: StreamReassembler?
    /// The same reassembler for the per-packet calls: unwrapping the optional costs a
    /// retain and release per packet; `reassembler` keeps it alive.
    private let unretainedReassembler: Unmanaged<StreamReassembler>?
    private let reassembleToServer: Bool
    private let reassembleToClient: Bool

    /// Per-flow state (the "TCP Monitor" μStack's whole footprint without reassembly).
    public struct FlowState: Sendable {
        public var client = TCPEndpointState()
        public var server = TCPEndpointState()
        public var flags = FlowFlags()

        public init(client: TCPEndpointState = TCPEndpointState(), server: TCPEndpointState = TCPEndpointState(),
                    flags: FlowFlags = FlowFlags()) {
            self.client = client
            self.server = server
            self.flags = flags
        }
    }

    /// Flow-wide facts, beside the two endpoints.
    public struct FlowFlags: Sendable {
        public var reassemble = false
        public var closed = false
        /// Whether both endpoints offered window scaling in their SYNs.
        public var windowScaling = false
        /// Whether both endpoints have been ESTABLISHED at some point (Suricata's
        /// `flow:established`; stays true through the close).
        public var established = false

        public init() {}
    }

    /// Two endpoints per slot (client at 2·slot, server at 2·slot+1), apart from the flow
    /// flags so one packet's updates touch disjoint memory.
    private let endpoints: UnsafeMutablePointer<TCPEndpointState>
    private let flows: UnsafeMutablePointer<FlowFlags>

    /// Bytes of monitor state per flow, reassembly excluded.
    public static var bytesPerFlow: Int {
        2 * MemoryLayout<TCPEndpointState>.stride + MemoryLayout<FlowFlags>.stride
    }

    public init(capacity: Int, reassembly: ReassemblyConfiguration? = nil) {
        self.capacity = capacity
        endpoints = .allocate(capacity: 2 * capacity)
        endpoints.initialize(repeating: TCPEndpointState(), count: 2 * capacity)
        flows = .allocate(capacity: capacity)
        flows.initialize(repeating: FlowFlags(), count: capacity)
        reassembler = reassembly.map { StreamReassembler(capacity: capacity, configuration: $0) }
        unretainedReassembler = reassembler.map(Unmanaged.passUnretained)
        reassembleToServer = reassembly?.toServer ?? false
        reassembleToClient = reassembly?.toClient ?? false
    }

    deinit {
        endpoints.deallocate()
        flows.deallocate()
    }

    /// The state of the flow in `slot`, by value (a snapshot).
    public func state(_ slot: Int32) -> FlowState {
        FlowState(client: endpoints[2 * Int(slot)], server: endpoints[2 * Int(slot) + 1], flags: flows[Int(slot)])
    }

    /// Reassembled chunks produced since `beginPacket()`.
    public var chunks: UnsafeBufferPointer<StreamChunk> {
        reassembler?.chunks ?? UnsafeBufferPointer(start: nil, count: 0)
    }

    /// Call once per packet before anything else: releases the previous packet's chunks.
    @inline(__always)
    public func beginPacket() { reassembler?.beginPacket() }

    /// Starts a flow in `slot`. `reassemble` is ignored when the monitor has no reassembler.
    /// `policies`: how the server and the client resolve overlapping segments (the
    /// reassembly configuration's `overlapPolicy` when nil).
    public func open(slot: Int32, flowID: UInt64, reassemble: Bool,
                     policies: (toServer: TargetPolicy, toClient: TargetPolicy)? = nil) {
        endpoints[2 * Int(slot)] = TCPEndpointState()
        endpoints[2 * Int(slot) + 1] = TCPEndpointState()
        flows[Int(slot)] = FlowFlags()
        flows[Int(slot)].reassemble = reassemble && reassembler != nil
        if flows[Int(slot)].reassemble { reassembler!.open(slot: slot, flowID: flowID, policies: policies) }
    }

    /// The flow in `slot` ended (closed, expired, evicted, end of input): buffered stream
    /// data is delivered with gaps for what was lost.
    public func finish(slot: Int32) {
        if flows[Int(slot)].reassemble { reassembler!.close(slot: slot) }
    }

    /// Whether a pure SYN on an existing flow starts a new connection on the same ports.
    @inline(__always)
    public func isNewConnection(slot: Int32, headers: PacketHeaders, fromClient: Bool) -> Bool {
        guard headers.tcpFlags.contains(.syn), !headers.tcpFlags.contains(.ack) else { return false }
        if flows[Int(slot)].closed { return true }
        let sender = endpoints[2 * Int(slot) + (fromClient ? 0 : 1)]
        return sender.flags.contains(.sentSYN) && sender.initialSequence != headers.sequence
            && (sender.state.isFinished || sender.state == .finWait2)
    }

    /// Updates both endpoints' stacks from one TCP packet of the flow in `slot`.
    @inline(__always)
    public func process(slot: Int32, headers: PacketHeaders, packet: UnsafeRawBufferPointer,
                        fromClient: Bool) -> TCPPacketResult {
        counters.packets &+= 1
        let client = endpoints + 2 * Int(slot)
        return update(flows + Int(slot), sender: fromClient ? client : client + 1,
                      receiver: fromClient ? client + 1 : client,
                      senderSide: fromClient ? .client : .server, slot: slot, headers: headers, packet: packet)
    }

    @inline(__always)
    private func update(_ flow: UnsafeMutablePointer<FlowFlags>, sender: UnsafeMutablePointer<TCPEndpointState>,
                        receiver: UnsafeMutablePointer<TCPEndpointState>, senderSide: FlowSide, slot: Int32,
                        headers: PacketHeaders, packet: UnsafeRawBufferPointer) -> TCPPacketResult {
        let flags = headers.tcpFlags
        let senderBefore = sender.pointee.state
        let receiverBefore = receiver.pointee.state
        var anomalies: TCPAnomalies = []
        let wasClosed = flow.pointee.closed

        if flags.contains(.rst) {
            if isAcceptableReset(headers, receiver: receiver.pointee, sender: sender.pointee) {
                sender.pointee.state = .closed
                receiver.pointee.state = .closed
                flow.pointee.closed = true
            } else {
                anomalies.insert(.invalidReset)
                counters.invalidResets &+= 1
            }
        } else {
            if senderBefore == .closed, receiverBefore == .closed, !flags.contains(.syn), !sender.pointee.flags.contains(.sentSYN) {
                pickUpMidStream(sender: &sender.pointee, receiver: &receiver.pointee, headers: headers)
            }
            if headers.payloadLength > 0, isBeyondWindow(headers, receiver: receiver.pointee, sender: sender.pointee) {
                anomalies.insert(.outOfWindow)
                counters.outOfWindow &+= 1
            }
            sent(headers, by: &sender.pointee, peer: receiver.pointee, flow: flow, anomalies: &anomalies)
            received(headers, by: &receiver.pointee, sender: sender.pointee, flow: flow)
            if sender.pointee.state.isFinished && receiver.pointee.state.isFinished { flow.pointee.closed = true }
            if !flow.pointee.established, sender.pointee.state == .established, receiver.pointee.state == .established {
                flow.pointee.established = true
            }
        }

        if flow.pointee.reassemble {
            reassemble(slot: slot, direction: StreamDirection(sender: senderSide), headers: headers,
                       packet: packet, sender: sender.pointee, anomalies: anomalies)
            anomalies.formUnion(unretainedReassembler.unsafelyUnwrapped._withUnsafeGuaranteedRef { $0.takeAnomalies() })
        }
        let closedNow = flow.pointee.closed && !wasClosed
        if closedNow {
            counters.closedFlows &+= 1
            if flow.pointee.reassemble { reassembler!.close(slot: slot) }
        }
        return TCPPacketResult(
            sender: StackUpdate(side: senderSide, cause: senderSide, before: senderBefore, after: sender.pointee.state),
            receiver: StackUpdate(side: senderSide.peer, cause: senderSide, before: receiverBefore, after: receiver.pointee.state),
            anomalies: anomalies, closedFlow: closedNow)
    }

    /// RFC 5961, as Linux applies it: a RST counts only at exactly the sequence number the
    /// receiver expects next (what it last acknowledged, or the sender's next byte once all
    /// it sent arrived); one merely inside the window draws a challenge ACK and is ignored —
    /// so an attacker's in-window RST cannot end inspection while the real connection goes
    /// on. Answering a SYN, it must acknowledge that SYN. With nothing known, it counts.
    @inline(__always)
    private func isAcceptableReset(_ headers: PacketHeaders, receiver: TCPEndpointState, sender: TCPEndpointState) -> Bool {
        if receiver.state == .synSent {
            return headers.tcpFlags.contains(.ack) && headers.acknowledgment == receiver.nextSequence
        }
        guard receiver.flags.contains(.sentACK) else { return true }
        return headers.sequence == receiver.acknowledged || headers.sequence == sender.nextSequence
    }

    /// Data ending past the right edge of the window the receiver last advertised: the
    /// receiver drops it, so the monitor must not reassemble it (an evasion otherwise).
    /// Judged only when both handshakes were seen, so the window and its scale are known.
    @inline(__always)
    private func isBeyondWindow(_ headers: PacketHeaders, receiver: TCPEndpointState, sender: TCPEndpointState) -> Bool {
        guard receiver.flags.contains(.sentACK), receiver.flags.contains(.sentSYN), sender.flags.contains(.sentSYN) else {
            return false
        }
        let end = headers.sequence &+ UInt32(truncatingIfNeeded: headers.payloadLength)
        return SequenceNumber.isAfter(end, receiver.acknowledged &+ receiver.window)
    }

    /// First packet of a flow whose handshake was not seen: both ends are taken as
    /// established, and the sender's stream starts at this packet.
    private func pickUpMidStream(sender: inout TCPEndpointState, receiver: inout TCPEndpointState,
                                 headers: PacketHeaders) {
        counters.midStreamPickups &+= 1
        sender.state = .established
        sender.initialSequence = headers.sequence &- 1
        sender.nextSequence = headers.sequence
        sender.flags.insert(.pickedUpMidStream)
        receiver.state = .established
        receiver.flags.insert(.pickedUpMidStream)
        if headers.tcpFlags.contains(.ack) {
            receiver.initialSequence = headers.acknowledgment &- 1
            receiver.nextSequence = headers.acknowledgment
        }
    }

    /// What the packet does to its sender's stack.
    @inline(__always)
    private func sent(_ headers: PacketHeaders, by sender: inout TCPEndpointState, peer: TCPEndpointState,
                      flow: UnsafeMutablePointer<FlowFlags>, anomalies: inout TCPAnomalies) {
        let flags = headers.tcpFlags
        if flags.contains(.syn) {
            if sender.flags.contains(.sentSYN) {
                if sender.initialSequence != headers.sequence { anomalies.insert(.synMismatch) }
            } else {
                sender.flags.insert(.sentSYN)
                sender.initialSequence = headers.sequence
                sender.nextSequence = headers.sequence &+ 1
                let options = headers.tcpOptions
                sender.mss = options.mss
                if options.hasWindowScale {
                    sender.flags.insert(.offeredWindowScale)
                    sender.windowScale = options.windowScale
                }
                if options.sackPermitted { sender.flags.insert(.sackPermitted) }
                if options.hasTimestamps { sender.flags.insert(.timestamps) }
            }
            switch sender.state {
            case .closed, .listen:
                sender.state = flags.contains(.ack) ? .synReceived : .synSent
            case .synSent where flags.contains(.ack):
                sender.state = .synReceived  // simultaneous open: answering the peer's SYN
            default:
                break
            }
        }
        let end = headers.sequence &+ UInt32(truncatingIfNeeded: headers.payloadLength)
            &+ (flags.contains(.syn) ? 1 : 0) &+ (flags.contains(.fin) ? 1 : 0)
        if SequenceNumber.isAfter(end, sender.nextSequence) { sender.nextSequence = end }
        if headers.payloadLength > 0, sender.flags.contains(.sentFIN),
           SequenceNumber.isAfter(end, sender.finSequence &+ 1) {
            anomalies.insert(.dataAfterFIN)
        }
        if flags.contains(.ack) {
            if !sender.flags.contains(.sentACK) || SequenceNumber.isAfter(headers.acknowledgment, sender.acknowledged) {
                sender.acknowledged = headers.acknowledgment
            }
            sender.flags.insert(.sentACK)
            // Window fields in SYN segments are never scaled (RFC 7323).
            let shift = (flow.pointee.windowScaling && !flags.contains(.syn)) ? sender.windowScale : 0
            sender.window = UInt32(headers.window) << shift
        }
        if flags.contains(.fin) {
            if !sender.flags.contains(.sentFIN) {
                sender.flags.insert(.sentFIN)
                sender.finSequence = headers.sequence &+ UInt32(truncatingIfNeeded: headers.payloadLength)
            }
            switch sender.state {
            case .established, .synReceived:
                sender.state = .finWait1
            case .closeWait:
                // A FIN that does not acknowledge the peer's FIN was sent before that FIN
                // arrived: a simultaneous close, so this end is CLOSING, not LAST_ACK.
                let acksPeerFIN = flags.contains(.ack) && !SequenceNumber.isAfter(peer.finSequence &+ 1, headers.acknowledgment)
                sender.state = acksPeerFIN ? .lastAck : .closing
            default:
                break
            }
        }
    }

    /// What the packet does to the stack it reaches.
    @inline(__always)
    private func received(_ headers: PacketHeaders, by receiver: inout TCPEndpointState,
                          sender: TCPEndpointState, flow: UnsafeMutablePointer<FlowFlags>) {
        let flags = headers.tcpFlags
        if flags.contains(.syn) {
            switch receiver.state {
            case .closed, .listen:
                if !flags.contains(.ack) { receiver.state = .synReceived }
            case .synSent:
                if flags.contains(.ack) {
                    // Acknowledging the SYN is enough: data the SYN carried may go unacknowledged
                    // (a server without TCP Fast Open drops it, and the client sends it again).
                    let ack = headers.acknowledgment
                    if !SequenceNumber.isAfter(receiver.initialSequence &+ 1, ack), !SequenceNumber.isAfter(ack, receiver.nextSequence) {
                        receiver.state = .established
                    }
                } else {
                    receiver.state = .synReceived  // simultaneous open
                }
            case .synReceived:
                if flags.contains(.ack), headers.acknowledgment == receiver.nextSequence {
                    receiver.state = .established
                }
            default:
                break
            }
            // Scaling applies once both SYNs offered it.
            if receiver.flags.contains(.offeredWindowScale), sender.flags.contains(.offeredWindowScale) {
                flow.pointee.windowScaling = true
            }
            return
        }
        if flags.contains(.ack) {
            let acksFIN = receiver.flags.contains(.sentFIN)
                && !SequenceNumber.isAfter(receiver.finSequence &+ 1, headers.acknowledgment)
            switch receiver.state {
            case .synReceived:
                if !SequenceNumber.isAfter(receiver.initialSequence &+ 1, headers.acknowledgment) {
                    receiver.state = .established
                }
            case .finWait1:
                if acksFIN { receiver.state = .finWait2 }
            case .closing:
                if acksFIN { receiver.state = .timeWait }
            case .lastAck:
                if acksFIN { receiver.state = .closed }
            default:
                break
            }
        }
        if flags.contains(.fin) {
            switch receiver.state {
            case .established, .synReceived: receiver.state = .closeWait
            case .finWait1: receiver.state = .closing
            case .finWait2: receiver.state = .timeWait
            default: break
            }
        }
    }

    @inline(__always)
    private func reassemble(slot: Int32, direction: StreamDirection, headers: PacketHeaders,
                            packet: UnsafeRawBufferPointer, sender: TCPEndpointState, anomalies: TCPAnomalies) {
        unretainedReassembler.unsafelyUnwrapped._withUnsafeGuaranteedRef { reassembler in
            reassemble(slot: slot, direction: direction, headers: headers, packet: packet, sender: sender, anomalies: anomalies,
                       into: reassembler)
        }
    }

    @inline(__always)
    private func reassemble(slot: Int32, direction: StreamDirection, headers: PacketHeaders, packet: UnsafeRawBufferPointer,
                            sender: TCPEndpointState, anomalies: TCPAnomalies, into reassembler: StreamReassembler) {
        let flags = headers.tcpFlags
        let opposite: StreamDirection = direction == .toServer ? .toClient : .toServer
        if flags.contains(.ack), !flags.contains(.rst), reassembles(opposite) {
            // This packet's ACK covers the opposite direction's bytes.
            reassembler.acknowledge(slot: slot, direction: opposite, headers.acknowledgment)
        }
        guard reassembles(direction) else { return }
        if flags.contains(.syn) {
            reassembler.setInitialSequence(slot: slot, direction: direction, sender.initialSequence &+ 1)
        }
        // Data on a SYN is not stream data: the receiver drops it unless it acknowledges it
        // (TCP Fast Open), and a decoy there must not take the place of what is sent again.
        if headers.payloadLength > 0, !flags.contains(.rst), !flags.contains(.syn), !anomalies.contains(.outOfWindow) {
            let sequence = headers.sequence
            let payload = UnsafeRawBufferPointer(
                rebasing: packet[headers.payloadOffset..<(headers.payloadOffset + headers.payloadLength)])
            reassembler.accept(slot: slot, direction: direction, sequence: sequence, payload: payload)
        }
        if flags.contains(.fin) {
            reassembler.setFIN(slot: slot, direction: direction, sequence: sender.finSequence)
        }
    }

    @inline(__always)
    private func reassembles(_ direction: StreamDirection) -> Bool {
        direction == .toServer ? reassembleToServer : reassembleToClient
    }
}

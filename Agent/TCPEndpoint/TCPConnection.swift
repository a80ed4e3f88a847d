import MBoxPacket
import MBoxTransmit

/// One end of an established TCP connection, run by the agent: a receiver that
/// reassembles into a bounded buffer and advertises what is left of it (so a slow reader
/// closes the window: back-pressure), and a sender with RFC 6298 retransmission timer,
/// NewReno congestion control (RFC 5681/6582, initial window of ten segments, RFC 6928),
/// SACK (RFC 2018) both ways — holes are resent first during recovery — window scaling
/// and timestamps (RFC 7323), and a persist timer for closed windows.
///
/// The owner feeds it the peer's segments (`receive`), moves bytes in (`write`) and out
/// (`read`/`consume`), and calls `transmit` after either and `tick` on a timer; segments
/// go to the outbox. Buffers are allocated when the connection starts, never per segment.
public final class TCPConnection {
    public let setup: ConnectionSetup
    public internal(set) var counters = ConnectionCounters()
    let outbox: FrameOutbox

    // Send side: `sendBuffer` holds bytes from `sendUnacknowledged` on.
    var sendBuffer: ByteRing
    var sendUnacknowledged: UInt32
    var sendNext: UInt32
    /// The highest sequence number sent (above `sendNext` after a timeout's go-back).
    var sendHighest: UInt32
    var peerWindow: UInt32
    var windowUpdateSequence: UInt32
    var windowUpdateAcknowledgment: UInt32
    let segmentSize: Int
    var congestionWindow: UInt32
    var slowStartThreshold: UInt32 = .max
    var duplicateAcks = 0
    /// Duplicate ACKs that mean a loss: 3, raised when the path is seen to reorder
    /// (a hole filled without a retransmission, or a recovery found spurious).
    var duplicateThreshold = 3
    /// New segments allowed beyond the congestion window by the first duplicate ACKs
    /// (limited transmit, RFC 3042).
    var limitedTransmit: UInt32 = 0
    /// The window before the last recovery, and our TSval when it began: an ACK echoing an
    /// older one was caused by the original segment, so the recovery was spurious and is
    /// undone (Eifel, RFC 3522).
    var priorCongestionWindow: UInt32 = 0
    var priorThreshold: UInt32 = 0
    var recoveryTimestamp: UInt32 = 0
    /// Segments resent in this recovery, each with the highest sequence sent at the time:
    /// when data sent after a resend is SACKed while the resent segment is still missing,
    /// the resend was lost too (as RACK infers, RFC 8985) and goes again.
    var resent: [(sequence: UInt32, highWater: UInt32)] = []
    var inRecovery = false
    /// With SACK: what was sent and is not acknowledged, by sequence (RACK's records), and
    /// the bytes of it marked lost and not yet resent.
    let records: UnsafeMutablePointer<SentSegment>
    let recordCapacity: Int
    var recordHead = 0
    var recordCount = 0
    var lostBytes: UInt32 = 0
    /// The delivered segment sent last: when, its end, its round trip; the least RTT seen.
    var rackSentAt: UInt64 = 0
    var rackEnd: UInt32 = 0
    var rackRTT: UInt64 = 0
    var minimumRTT: UInt64 = .max
    /// When segments not yet judged lost will be (0: none waiting).
    var reorderDeadline: UInt64 = 0
    /// The reordering window in quarters of the minimum RTT: grows each time a recovery
    /// proves spurious, back to 1 after 16 recoveries that were not (RFC 8985 §6.2.4).
    var reorderingQuarters: UInt64 = 1
    var recoveriesSinceSpurious = 0
    var recoveryPoint: UInt32
    /// During recovery, where resending holes has reached.
    var retransmittedUpTo: UInt32
    var sacked = SequenceRanges()
    var timeout = RetransmissionTimeout()
    /// When the retransmission (or persist) timer fires; 0 when stopped.
    var retransmitDeadline: UInt64 = 0
    /// When a tail loss probe goes out (0: none armed), and whether one is out unanswered:
    /// a flight whose last segments or ACKs were lost gets no duplicate ACKs, and without
    /// a probe would wait for the timeout (RFC 8985 §7).
    var probeDeadline: UInt64 = 0
    var probeOutstanding = false
    /// A segment timed for an RTT sample without timestamps (Karn: never a resent one).
    var timedSequence: UInt32 = 0
    var timedAt: UInt64 = 0
    /// The FIN's sequence number once `shutdown()` queued it.
    var finSequence: UInt32?
    public internal(set) var finAcknowledged = false

    // Receive side: `receiveBuffer` holds in-order bytes not yet read; segments beyond a
    // gap wait in its free space at their offset from `receiveNext`.
    var receiveBuffer: ByteRing
    var receiveNext: UInt32
    var outOfOrder = SequenceRanges()
    var peerFinSequence: UInt32?
    public internal(set) var finReceived = false
    public internal(set) var wasReset = false
    var peerTimestamp: UInt32
    /// Segments received since our last ACK, and when a delayed ACK is due (0: none).
    var unacknowledgedSegments = 0
    var delayedAckDeadline: UInt64 = 0
    var ackNow = false
    /// The window last advertised, in bytes.
    var advertisedWindow: UInt32 = 0

    /// Segments longer than this never leave (the outbox's frame size bounds them too).
    static let largestSegment = 1448
    /// Delayed ACK (RFC 1122 allows up to 500 ms; Linux waits 40 ms).
    static let ackDelay: UInt64 = 40_000_000
    /// Timer expiries without progress before the connection is given up (reset).
    static let giveUpAfter = 12

    public init(_ setup: ConnectionSetup, outbox: FrameOutbox) {
        self.setup = setup
        self.outbox = outbox
        sendBuffer = ByteRing(capacity: setup.sendCapacity)
        receiveBuffer = ByteRing(capacity: setup.receiveCapacity)
        sendUnacknowledged = setup.sendNext
        sendNext = setup.sendNext
        sendHighest = setup.sendNext
        recoveryPoint = setup.sendNext
        retransmittedUpTo = setup.sendNext
        peerWindow = setup.peerWindow
        windowUpdateSequence = setup.receiveNext
        windowUpdateAcknowledgment = setup.sendNext
        receiveNext = setup.receiveNext
        peerTimestamp = setup.peerTimestamp
        let optionBytes = setup.timestamps ? 12 : 0
        segmentSize = max(64, min(Int(setup.peerMSS), 1460) - optionBytes, 0)
        congestionWindow = UInt32(10 * segmentSize)
        resent.reserveCapacity(Self.resentLog)
        // One record per segment in flight; small segments pause sending when they run out.
        recordCapacity = setup.sackPermitted ? setup.sendCapacity / 256 + 64 : 1
        records = .allocate(capacity: recordCapacity)
    }

    static let resentLog = 64

    deinit {
        sendBuffer.deallocate()
        receiveBuffer.deallocate()
        records.deallocate()
    }

    // MARK: The application's side

    /// Bytes that can be written now.
    public var writable: Int { finSequence == nil && !wasReset ? sendBuffer.free : 0 }

    /// Queues bytes to send; returns how many fit.
    @discardableResult
    public func write(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard finSequence == nil, !wasReset else { return 0 }
        return sendBuffer.append(bytes)
    }

    /// In-order bytes received and not yet consumed.
    public var readable: Int { receiveBuffer.count }

    /// Received bytes `offset..<offset + length` (up to two parts: the buffer wraps).
    public func read(from offset: Int, length: Int) -> (UnsafeRawBufferPointer, UnsafeRawBufferPointer) {
        receiveBuffer.parts(from: offset, length: length)
    }

    /// Copies received bytes to `destination`.
    public func copyReceived(from offset: Int, length: Int, to destination: UnsafeMutableRawPointer) {
        receiveBuffer.copy(from: offset, length: length, to: destination)
    }

    /// Frees `length` received bytes; the window reopens (announced when it had shrunk).
    public func consume(_ length: Int) {
        receiveBuffer.consume(length)
        // Announce a window that at least doubled (as Linux does; the peer may be waiting
        // on a closed one).
        let window = visibleWindow(receiveWindow)
        if window > 0, window >= 2 * advertisedWindow { ackNow = true }
    }

    /// Bytes the peer sent before this connection existed (held by whoever ran its
    /// handshake), taken as received in order and acknowledged with the next segment.
    public func deliver(_ bytes: UnsafeRawBufferPointer) {
        receiveNext &+= UInt32(receiveBuffer.append(bytes))
        ackNow = true
    }

    /// Sends an ACK with the next `transmit` (the peer's SYN-ACK awaits one).
    public func acknowledgeSoon() { ackNow = true }

    /// No more bytes will be written: a FIN follows the queued ones.
    public func shutdown() {
        guard finSequence == nil, !wasReset else { return }
        finSequence = sendUnacknowledged &+ UInt32(sendBuffer.count)
    }

    /// Everything we sent is acknowledged (FIN included, once queued).
    public var sendDone: Bool { finAcknowledged }

    /// Both directions finished, or reset.
    public var isFinished: Bool { wasReset || (finAcknowledged && finReceived) }

    /// Sends a RST and gives the connection up.
    public func abort() {
        guard !wasReset else { return }
        emit(sequence: sendNext, flags: [.rst, .ack], length: 0)
        stop()
    }

    func stop() {
        wasReset = true
        retransmitDeadline = 0
        delayedAckDeadline = 0
    }

    /// Bytes buffered to send, not yet acknowledged.
    public var unacknowledged: Int { sendBuffer.count }

    /// The sender's and receiver's variables, for diagnostics.
    public var stateDescription: String {
        "una \(sendUnacknowledged) nxt +\(sendNext &- sendUnacknowledged) high +\(sendHighest &- sendUnacknowledged) "
            + "cwnd \(congestionWindow) ssthresh \(slowStartThreshold) peerWindow \(peerWindow) queued \(sendBuffer.count) "
            + "fin \(finSequence.map { String($0 &- sendUnacknowledged) } ?? "-") acked \(finAcknowledged) "
            + "rto \(retransmitDeadline) backoff \(timeout.backoff) recovery \(inRecovery) dup \(duplicateAcks)/\(duplicateThreshold) "
            + "sacked \(sacked.count); rcvNext \(receiveNext) readable \(receiveBuffer.count) ooo \(outOfOrder.count) "
            + "finReceived \(finReceived) reset \(wasReset) adv \(advertisedWindow) records \(recordCount) lost \(lostBytes) "
            + "rack \(rackSentAt)/\(rackRTT) minRTT \(minimumRTT) reorder \(reorderDeadline) pipe \(setup.sackPermitted ? pipe : 0)"
    }

    // MARK: Clocks

    @inline(__always) func timestampValue(_ now: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: now / 1_000_000) &+ setup.timestampOffset }

    /// The next deadline this connection has (0: none), for the owner's timer.
    public var nextDeadline: UInt64 {
        // (0 means none: wrapping it to the largest value leaves it out of the minimum.)
        let next = min(retransmitDeadline &- 1, delayedAckDeadline &- 1, probeDeadline &- 1, reorderDeadline &- 1)
        return next == .max ? 0 : next &+ 1
    }

    /// Runs the timers due at `now`.
    public func tick(now: UInt64) {
        guard !wasReset else { return }
        if delayedAckDeadline != 0, now >= delayedAckDeadline {
            delayedAckDeadline = 0
            ackNow = true
        }
        if reorderDeadline != 0, now >= reorderDeadline {
            reorderDeadline = 0
            if detectLosses(now: now), !inRecovery { enterRecovery(now) }
        }
        if retransmitDeadline != 0, now >= retransmitDeadline {
            probeDeadline = 0
            retransmitTimerFired(now)
        } else if probeDeadline != 0, now >= probeDeadline {
            probeDeadline = 0
            sendTailLossProbe(now)
        }
        transmit(now: now)
    }

    /// Arms the probe timer for a flight in the open state: two smoothed RTTs (plus a
    /// delayed ACK's wait when one segment is out), never past the retransmission timer.
    func armProbe(_ now: UInt64) {
        guard !inRecovery, !probeOutstanding, sendHighest != sendUnacknowledged, timeout.smoothed > 0 else {
            probeDeadline = 0
            return
        }
        var wait = max(2 * timeout.smoothed, 10_000_000)
        if sendHighest &- sendUnacknowledged <= UInt32(segmentSize) { wait += Self.ackDelay }
        probeDeadline = now + wait
        if retransmitDeadline != 0, probeDeadline >= retransmitDeadline { probeDeadline = 0 }
    }

    /// One segment to draw an ACK: new data when some may go, else the last one sent again.
    private func sendTailLossProbe(_ now: UInt64) {
        guard sendHighest != sendUnacknowledged, !inRecovery else { return }
        probeOutstanding = true
        counters.probes &+= 1
        if unsent > 0, peerWindow > sendNext &- sendUnacknowledged {
            sendSegment(at: sendNext, now: now, retransmission: false)
        } else {
            let last = sendHighest &- UInt32(min(segmentSize, Int(sendHighest &- sendUnacknowledged)))
            sendSegment(at: seqMax(last, sendUnacknowledged), now: now, retransmission: true)
        }
        armRetransmit(now)
    }

    private func retransmitTimerFired(_ now: UInt64) {
        retransmitDeadline = 0
        let outstanding = sendHighest != sendUnacknowledged
        if outstanding {
            timeout.expired()
            if timeout.backoff > Self.giveUpAfter { return abort() }
            counters.timeoutRetransmits &+= 1
            // RFC 5681 §3.1: one segment's window, and resend from the first unacknowledged.
            slowStartThreshold = max(flightSize / 2, UInt32(2 * segmentSize))
            congestionWindow = UInt32(segmentSize)
            inRecovery = false
            duplicateAcks = 0
            limitedTransmit = 0
            recoveryTimestamp = 0
            recoveryPoint = sendHighest
            // What follows resends from the first unacknowledged byte: not reordering.
            retransmittedUpTo = sendHighest
            timedSequence = 0
            if setup.sackPermitted {
                // Everything not SACKed is lost; resent as the window regrows.
                markAllLost()
                resendLost(now: now)
            } else {
                sendNext = sendUnacknowledged
                sendSegment(at: sendUnacknowledged, now: now, retransmission: true)
            }
            armRetransmit(now)
        } else if unsent > 0, peerWindow == 0 {
            // Persist: probe the closed window with one byte.
            timeout.expired()
            sendSegment(at: sendNext, limit: 1, now: now, retransmission: false)
            armRetransmit(now)
        }
    }

    func armRetransmit(_ now: UInt64) { retransmitDeadline = now + timeout.current }

    // MARK: Sending

    /// Bytes sent and not cumulatively acknowledged (RFC 5681's FlightSize: SACKed bytes
    /// count, or a recovery amid many SACKs would shrink the window to nothing).
    var flightSize: UInt32 { sendHighest &- sendUnacknowledged }

    /// Bytes queued beyond `sendNext`.
    var unsent: Int { max(0, Int(Int32(bitPattern: (sendUnacknowledged &+ UInt32(sendBuffer.count)) &- sendNext))) }

    /// Sends what the windows allow, the FIN when due, and an ACK when one is owed.
    public func transmit(now: UInt64) {
        guard !wasReset else { return }
        var sentAny = false
        if lostBytes > 0 {
            let before = outbox.count
            resendLost(now: now)
            sentAny = outbox.count > before
        }
        while outbox.count < outbox.capacity {
            let inFlight = sendNext &- sendUnacknowledged
            // The congestion window counts the pipe with SACK (what is in the network), the
            // bytes sent past the acknowledgment without; the peer's window, the latter.
            let inNetwork = setup.sackPermitted ? pipe : inFlight
            let congestionRoom = Int64(congestionWindow &+ limitedTransmit * UInt32(segmentSize)) - Int64(inNetwork)
            let peerRoom = Int64(peerWindow) - Int64(inFlight)
            let pending = unsent
            if pending == 0 {
                if let fin = finSequence, sendNext == fin {
                    // The FIN on its own, once.
                    emit(sequence: fin, flags: [.fin, .ack], length: 0, now: now)
                    noteTransmission(fin, fin &+ 1, now: now, isNew: true)
                    sendNext = fin &+ 1
                    sendHighest = seqMax(sendHighest, sendNext)
                    if retransmitDeadline == 0 { armRetransmit(now) }
                    sentAny = true
                }
                break
            }
            // Skip what the peer already holds (resending after a timeout).
            if let held = sacked.range(containing: sendNext) {
                sendNext = held.end
                continue
            }
            guard congestionRoom > 0, peerRoom > 0, !setup.sackPermitted || canRecord else {
                if peerWindow == 0, retransmitDeadline == 0 { armRetransmit(now) }
                break
            }
            let usable = Int(min(congestionRoom, peerRoom))
            let length = min(segmentSize, pending, usable)
            // Avoid silly segments while data is in flight (the ACK will open more room).
            if length < segmentSize, length < pending, inFlight > 0 { break }
            sendSegment(at: sendNext, limit: length, now: now, retransmission: seqLess(sendNext, sendHighest))
            sentAny = true
        }
        if ackNow, !sentAny { sendAck(now: now) }
    }

    /// Sends the data segment at `sequence` (up to `limit` bytes, a segment at most; up to
    /// the next SACKed range when resending) and advances `sendNext` past it when it starts there.
    @discardableResult
    func sendSegment(at sequence: UInt32, limit: Int = .max, now: UInt64, retransmission: Bool) -> Int {
        let offset = Int(sequence &- sendUnacknowledged)
        var length = min(limit, segmentSize, max(0, sendBuffer.count - offset))
        if let next = sacked.first(after: sequence) { length = min(length, Int(next.start &- sequence)) }
        var flags: TCPFlags = [.ack]
        if let fin = finSequence, sequence &+ UInt32(length) == fin { flags.insert(.fin) }
        if length == 0, !flags.contains(.fin) { return 0 }
        if length > 0, offset + length == sendBuffer.count { flags.insert(.psh) }
        emit(sequence: sequence, flags: flags, length: length, now: now)
        let end = sequence &+ UInt32(length) &+ (flags.contains(.fin) ? 1 : 0)
        noteTransmission(sequence, end, now: now, isNew: !seqLess(sequence, sendHighest))
        if sequence == sendNext { sendNext = end }
        if seqLess(sendHighest, end) { sendHighest = end }
        if !retransmission, timedSequence == 0, !setup.timestamps {
            timedSequence = end
            timedAt = now
        }
        if retransmitDeadline == 0 { armRetransmit(now) }
        if probeDeadline == 0 { armProbe(now) }
        return length
    }

    func sendAck(now: UInt64) { emit(sequence: sendNext, flags: .ack, length: 0, now: now) }

    /// `window` as the peer sees it (our scale drops its low bits).
    @inline(__always) func visibleWindow(_ window: UInt32) -> UInt32 {
        (window >> UInt32(setup.ourScale)) << UInt32(setup.ourScale)
    }

    /// The window to advertise, in bytes.
    var receiveWindow: UInt32 {
        let limit = UInt32(65535) << UInt32(setup.ourScale)
        return min(UInt32(receiveBuffer.free), limit)
    }

    /// Writes one segment: our data at `sequence` (`length` bytes from the send buffer),
    /// with our ACK, window, timestamps and SACK blocks.
    func emit(sequence: UInt32, flags: TCPFlags, length: Int, now: UInt64 = 0) {
        let window = receiveWindow
        var segment = EmittedSegment(source: setup.local, destination: setup.remote, sourcePort: setup.localPort,
                                     destinationPort: setup.remotePort, sequence: sequence,
                                     acknowledgment: flags.contains(.ack) ? receiveNext : 0, flags: flags,
                                     window: UInt16(window >> UInt32(setup.ourScale)))
        if setup.timestamps { segment.options.timestamps = (timestampValue(now), peerTimestamp) }
        if setup.sackPermitted, !outOfOrder.isEmpty {
            // The block holding the latest segment first, then the others (RFC 2018 §4).
            let latest = outOfOrder.latest
            let first = outOfOrder[latest]
            segment.options.addSACK(first.start, first.end)
            for index in 0..<outOfOrder.count where index != latest { segment.options.addSACK(outOfOrder[index].start, outOfOrder[index].end) }
        }
        var payload = (UnsafeRawBufferPointer(start: nil, count: 0), UnsafeRawBufferPointer(start: nil, count: 0))
        if length > 0 { payload = sendBuffer.parts(from: Int(sequence &- sendUnacknowledged), length: length) }
        let link = setup.link
        guard outbox.emit(setup.egress, { SegmentWriter.tcp(segment, payload: payload.0, tail: payload.1, link: link, into: $0) })
        else { return }
        counters.segmentsSent &+= 1
        counters.bytesSent &+= UInt64(length)
        if flags.contains(.ack) {
            advertisedWindow = visibleWindow(window)
            ackNow = false
            unacknowledgedSegments = 0
            delayedAckDeadline = 0
        }
    }
}

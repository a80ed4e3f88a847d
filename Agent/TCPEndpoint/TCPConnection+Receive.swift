import MBoxPacket

extension TCPConnection {
    /// What a segment from the peer changed, for the owner to act on.
    public struct Arrival: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// New in-order bytes to read.
        public static let data = Arrival(rawValue: 1)
        /// The peer finished sending.
        public static let fin = Arrival(rawValue: 2)
        /// The peer reset the connection.
        public static let reset = Arrival(rawValue: 4)
        /// Sent bytes were acknowledged: room to write.
        public static let sendSpace = Arrival(rawValue: 8)
    }

    /// A segment from the peer (`headers` parsed from `packet`). Acknowledgments move the
    /// sender on; data lands in the receive buffer (beyond a gap: held at its offset and
    /// reported by SACK); a RST inside the window ends the connection. Call `transmit`
    /// afterwards: ACKs and newly allowed data go out then.
    public func receive(_ headers: PacketHeaders, packet: UnsafeRawBufferPointer, now: UInt64) -> Arrival {
        guard !wasReset else { return [] }
        counters.segmentsReceived &+= 1
        let flags = headers.tcpFlags
        if flags.contains(.rst) {
            // RFC 793: a reset is believed when its sequence number is in the window.
            let offset = Int64(Int32(bitPattern: headers.sequence &- receiveNext))
            guard offset >= 0, offset <= Int64(max(receiveWindow, 1)) else { return [] }
            stop()
            return .reset
        }
        if flags.contains(.syn) {
            // The peer repeats its SYN(-ACK): our handshake ACK was lost.
            ackNow = true
            return []
        }
        guard flags.contains(.ack) else { return [] }
        if setup.timestamps, headers.tcpOptions.hasTimestamps, seqLessOrEqual(headers.sequence, receiveNext) {
            peerTimestamp = headers.tcpOptions.timestampValue
        }
        var arrival: Arrival = []
        if acknowledge(headers, packet: packet, now: now) { arrival.insert(.sendSpace) }
        arrival.formUnion(accept(headers, packet: packet, now: now))
        return arrival
    }

    // MARK: Acknowledgments (the sender's side)

    /// Returns whether new bytes were acknowledged.
    private func acknowledge(_ headers: PacketHeaders, packet: UnsafeRawBufferPointer, now: UInt64) -> Bool {
        let ack = headers.acknowledgment
        if seqLess(sendHighest, ack) {
            // Acknowledges what was never sent.
            ackNow = true
            return false
        }
        let sequence = headers.sequence
        if seqLess(windowUpdateSequence, sequence) || (windowUpdateSequence == sequence && seqLessOrEqual(windowUpdateAcknowledgment, ack)) {
            peerWindow = UInt32(headers.window) << UInt32(setup.peerScale)
            windowUpdateSequence = sequence
            windowUpdateAcknowledgment = ack
        }
        if setup.sackPermitted { readSACK(headers, packet: packet) }
        guard seqLess(sendUnacknowledged, ack) else {
            let duplicate = ack == sendUnacknowledged && headers.payloadLength == 0 && !headers.tcpFlags.contains(.fin)
                && sendHighest != sendUnacknowledged
            if duplicate { duplicateAck(now) }
            return false
        }
        let acked = ack &- sendUnacknowledged
        let segment = UInt32(segmentSize)
        if !inRecovery, seqLessOrEqual(retransmittedUpTo, sendUnacknowledged), !sacked.isEmpty {
            // Holes below `ack` that were never resent arrived late: the path reorders by
            // as many segments as were SACKed above them.
            let ahead = sacked.bytes(above: sendUnacknowledged) &- sacked.bytes(above: ack)
            if ahead > 0 { duplicateThreshold = min(max(duplicateThreshold, Int(ahead / segment) + 1), 64) }
        }
        if recoveryTimestamp != 0 {
            // The first new ACK after a fast retransmit: caused by the original segment?
            if setup.timestamps, headers.tcpOptions.hasTimestamps, headers.tcpOptions.timestampEcho != 0,
               seqLess(headers.tcpOptions.timestampEcho, recoveryTimestamp) {
                counters.spuriousRecoveries &+= 1
                congestionWindow = max(congestionWindow, priorCongestionWindow)
                slowStartThreshold = max(slowStartThreshold, priorThreshold)
                inRecovery = false
                duplicateThreshold = min(duplicateThreshold * 2, 64)
                reorderingQuarters = min(reorderingQuarters + 1, 16)
                recoveriesSinceSpurious = 0
            }
            recoveryTimestamp = 0
        }
        limitedTransmit = 0
        let dataAcked = min(Int(acked), sendBuffer.count)
        sendBuffer.consume(dataAcked)
        if let fin = finSequence, seqLess(fin, ack) { finAcknowledged = true }
        sendUnacknowledged = ack
        if seqLess(sendNext, ack) { sendNext = ack }
        if seqLess(retransmittedUpTo, ack) { retransmittedUpTo = ack }
        sacked.removeBelow(ack)
        // RTT: by the echoed timestamp, else by the one timed segment (Karn's rule).
        if setup.timestamps, headers.tcpOptions.hasTimestamps, headers.tcpOptions.timestampEcho != 0 {
            let milliseconds = Int32(bitPattern: timestampValue(now) &- headers.tcpOptions.timestampEcho)
            if milliseconds >= 0 { timeout.sample(UInt64(milliseconds) * 1_000_000) }
        } else if timedSequence != 0, seqLessOrEqual(timedSequence, ack) {
            timeout.sample(now - min(now, timedAt))
            timedSequence = 0
        }
        timeout.acknowledged()
        retransmitDeadline = sendHighest == ack ? 0 : now + timeout.current
        probeOutstanding = false
        armProbe(now)
        duplicateAcks = 0
        let newLoss = setup.sackPermitted && detectLosses(now: now)
        if inRecovery {
            if seqLessOrEqual(recoveryPoint, ack) {
                // Full acknowledgment: recovery ends (RFC 6582 §3.2 step 3).
                inRecovery = false
                congestionWindow = slowStartThreshold
                if newLoss { enterRecovery(now) }
            } else if setup.sackPermitted {
                // Lost segments go out as the pipe drains (`transmit`).
            } else {
                // Partial: the next hole was lost too; resend it, deflate the window.
                congestionWindow = congestionWindow > acked ? congestionWindow - acked + segment : segment
                if !resendLostRetransmission(now) { resendHole(now) }
            }
        } else if newLoss {
            enterRecovery(now)
        } else if congestionWindow < slowStartThreshold {
            // Appropriate byte counting (RFC 3465, L = 2): delayed ACKs do not halve growth.
            congestionWindow &+= min(acked, 2 * segment)
        } else {
            congestionWindow &+= max(1, UInt32(UInt64(segment) * UInt64(acked) / UInt64(congestionWindow)))
        }
        return dataAcked > 0 || finAcknowledged
    }

    private func duplicateAck(_ now: UInt64) {
        duplicateAcks += 1
        let segment = UInt32(segmentSize)
        if setup.sackPermitted {
            // SACK: losses are found by time (RACK); the first duplicates let new data out.
            if detectLosses(now: now), !inRecovery {
                enterRecovery(now)
            } else if !inRecovery {
                limitedTransmit = UInt32(min(duplicateAcks, 2))
            }
            return
        }
        if inRecovery {
            congestionWindow &+= segment
            if !resendLostRetransmission(now) { resendHole(now) }
            return
        }
        // Few segments out and nothing new to send: fewer duplicates will ever come
        // (early retransmit, RFC 5827).
        let outstanding = Int((sendHighest &- sendUnacknowledged + segment - 1) / segment)
        let threshold = unsent == 0 && outstanding < 4 ? max(1, outstanding - 1) : duplicateThreshold
        let sackSaysLost = sacked.bytes(above: sendUnacknowledged) >= UInt32(threshold) * segment
        guard duplicateAcks >= threshold || sackSaysLost, seqLessOrEqual(recoveryPoint, sendUnacknowledged) else {
            // The first duplicates each let one new segment out (RFC 3042).
            limitedTransmit = UInt32(min(duplicateAcks, 2))
            return
        }
        // Fast retransmit, then fast recovery (RFC 5681 §3.2, RFC 6582).
        enterRecovery(now)
    }

    /// A loss found: the window halves once for everything sent so far. Without SACK the
    /// first hole is resent at once (NewReno); with SACK the segments marked lost are.
    func enterRecovery(_ now: UInt64) {
        let segment = UInt32(segmentSize)
        counters.recoveries &+= 1
        recoveriesSinceSpurious += 1
        if recoveriesSinceSpurious >= 16 {
            reorderingQuarters = 1
            recoveriesSinceSpurious = 0
        }
        priorCongestionWindow = congestionWindow
        priorThreshold = slowStartThreshold
        recoveryTimestamp = setup.timestamps ? timestampValue(now) : 0
        limitedTransmit = 0
        slowStartThreshold = max(flightSize / 2, 2 * segment)
        recoveryPoint = sendHighest
        inRecovery = true
        retransmittedUpTo = sendUnacknowledged
        if setup.sackPermitted {
            congestionWindow = slowStartThreshold
            resendLost(now: now)
        } else {
            congestionWindow = slowStartThreshold + 3 * segment
            resent.removeAll(keepingCapacity: true)
            resendHole(now)
        }
    }

    /// Resends the first unacknowledged segment when it was resent in this recovery and
    /// data sent after that resend has been SACKed since: the resend was lost.
    private func resendLostRetransmission(_ now: UInt64) -> Bool {
        guard let highest = sacked.highest,
              let index = resent.firstIndex(where: { $0.sequence == sendUnacknowledged }),
              seqLess(resent[index].highWater, highest) else { return false }
        resent[index].highWater = sendHighest
        sendSegment(at: sendUnacknowledged, now: now, retransmission: true)
        counters.fastRetransmits &+= 1
        counters.lostRetransmits &+= 1
        return true
    }

    /// Resends the first byte range neither acknowledged, SACKed nor resent in this
    /// recovery (below the highest SACKed byte; the first unacknowledged without SACK).
    private func resendHole(_ now: UInt64) {
        var sequence = seqMax(retransmittedUpTo, sendUnacknowledged)
        while let held = sacked.range(containing: sequence) { sequence = held.end }
        if sequence != sendUnacknowledged {
            guard let highest = sacked.highest, seqLess(sequence, highest) else { return }
        }
        guard seqLess(sequence, sendHighest) else { return }
        let highWater = sendHighest
        let length = sendSegment(at: sequence, now: now, retransmission: true)
        retransmittedUpTo = sequence &+ UInt32(max(length, 1))
        if resent.count < Self.resentLog { resent.append((sequence, highWater)) }
        counters.fastRetransmits &+= 1
    }

    /// Records the SACK blocks of a segment (kind 5) above the cumulative acknowledgment.
    private func readSACK(_ headers: PacketHeaders, packet: UnsafeRawBufferPointer) {
        var offset = headers.transportOffset + 20
        let end = min(headers.payloadOffset, packet.count)
        while offset < end {
            let kind = packet[offset]
            if kind == 0 { return }
            if kind == 1 { offset += 1; continue }
            guard offset + 1 < end else { return }
            let length = Int(packet[offset + 1])
            guard length >= 2, offset + length <= end else { return }
            if kind == 5 {
                var block = offset + 2
                while block + 8 <= offset + length {
                    let left = UInt32(bigEndian: packet.loadUnaligned(fromByteOffset: block, as: UInt32.self))
                    let right = UInt32(bigEndian: packet.loadUnaligned(fromByteOffset: block + 4, as: UInt32.self))
                    if seqLess(sendUnacknowledged, right), seqLessOrEqual(right, sendHighest), seqLess(left, right) {
                        sacked.insert(seqMax(left, sendUnacknowledged), right)
                    }
                    block += 8
                }
            }
            offset += length
        }
    }

    // MARK: Data (the receiver's side)

    private func accept(_ headers: PacketHeaders, packet: UnsafeRawBufferPointer, now: UInt64) -> Arrival {
        var sequence = headers.sequence
        var length = headers.payloadLength
        var start = headers.payloadOffset
        var fin = headers.tcpFlags.contains(.fin)
        guard length > 0 || fin else {
            // A segment below the window (a zero-window probe, a keep-alive) is answered
            // with an ACK, which carries the window (RFC 793 §3.9).
            if seqLess(sequence, receiveNext) { ackNow = true }
            return []
        }
        guard peerFinSequence == nil || !finReceived else {
            ackNow = true  // a retransmitted FIN: our ACK was lost
            return []
        }
        counters.bytesReceived &+= UInt64(length)
        let behind = Int(Int32(bitPattern: receiveNext &- sequence))
        if behind > 0 {
            if behind >= length + (fin ? 1 : 0) {
                ackNow = true  // all old: the peer missed our ACK
                return []
            }
            let cut = min(behind, length)
            sequence &+= UInt32(cut)
            length -= cut
            start += cut
        }
        let offset = Int(sequence &- receiveNext)
        let room = receiveBuffer.free
        if offset > room || (offset == room && length > 0) {
            counters.dropped &+= 1  // beyond the window (or a probe of a closed one)
            ackNow = true
            return []
        }
        if offset + length > room {
            length = room - offset
            fin = false
        }
        var arrival: Arrival = []
        if length > 0 {
            receiveBuffer.write(UnsafeRawBufferPointer(rebasing: packet[start..<(start + length)]), ahead: offset)
            if offset == 0 {
                receiveBuffer.commit(length)
                receiveNext &+= UInt32(length)
                if !outOfOrder.isEmpty {
                    // The gap filled: take what was held behind it.
                    while !outOfOrder.isEmpty, seqLessOrEqual(outOfOrder[0].start, receiveNext) {
                        let end = outOfOrder[0].end
                        if seqLess(receiveNext, end) {
                            receiveBuffer.commit(Int(end &- receiveNext))
                            receiveNext = end
                        }
                        outOfOrder.removeBelow(receiveNext)
                    }
                    ackNow = true
                }
                arrival.insert(.data)
            } else {
                if outOfOrder.insert(sequence, sequence &+ UInt32(length)) {
                    counters.outOfOrder &+= 1
                } else {
                    counters.dropped &+= 1
                }
                ackNow = true
            }
        }
        if fin { peerFinSequence = sequence &+ UInt32(length) }
        if let finAt = peerFinSequence, finAt == receiveNext, !finReceived {
            receiveNext &+= 1
            finReceived = true
            ackNow = true
            arrival.insert(.fin)
        }
        if !ackNow {
            unacknowledgedSegments += 1
            if unacknowledgedSegments >= 2 {
                ackNow = true
            } else if delayedAckDeadline == 0 {
                delayedAckDeadline = now + Self.ackDelay
            }
        }
        return arrival
    }
}

/// A segment sent and not yet cumulatively acknowledged, with when it last left.
struct SentSegment {
    var start: UInt32
    var end: UInt32
    var sentAt: UInt64
    var retransmitted = false
    var lost = false
    /// Reported by SACK.
    var delivered = false

    var length: UInt32 { end &- start }
}

/// Loss detection by time, as RACK does (RFC 8985), when the peer reports SACK: a segment
/// is lost once a segment sent after it was delivered and it has been out longer than the
/// delivered one's round trip plus a reordering window (a quarter of the minimum RTT). So
/// reordering within that window is never taken for loss, and a loss is found whatever
/// number of duplicate ACKs follows it — including a lost retransmission. The window grows
/// when timestamps show a recovery was spurious.
extension TCPConnection {
    @inline(__always) func record(_ index: Int) -> UnsafeMutablePointer<SentSegment> {
        records + (recordHead + index) % recordCapacity
    }

    /// Whether a new segment can be recorded (sending waits when not).
    var canRecord: Bool { recordCount < recordCapacity }

    /// Notes a transmission of `start..<end` (a FIN counts one).
    func noteTransmission(_ start: UInt32, _ end: UInt32, now: UInt64, isNew: Bool) {
        guard setup.sackPermitted, seqLess(start, end) else { return }
        if isNew {
            guard canRecord else { return }
            (records + (recordHead + recordCount) % recordCapacity).initialize(to: SentSegment(start: start, end: end, sentAt: now))
            recordCount += 1
            return
        }
        for index in 0..<recordCount {
            let segment = record(index)
            if seqLessOrEqual(end, segment.pointee.start) { break }
            guard seqLess(start, segment.pointee.end) else { continue }
            segment.pointee.sentAt = now
            segment.pointee.retransmitted = true
            if segment.pointee.lost {
                segment.pointee.lost = false
                lostBytes &-= segment.pointee.length
            }
        }
    }

    /// After an ACK (cumulative and SACK information already taken in): forgets what is
    /// acknowledged, notes what was delivered, marks what is lost. Returns whether a
    /// segment was newly marked lost.
    func detectLosses(now: UInt64) -> Bool {
        while recordCount > 0, seqLessOrEqual(record(0).pointee.end, sendUnacknowledged) {
            let segment = record(0).pointee
            if segment.lost { lostBytes &-= segment.length }
            if !segment.delivered { delivered(segment, now: now) }
            recordHead = (recordHead + 1) % recordCapacity
            recordCount -= 1
        }
        if !sacked.isEmpty {
            for index in 0..<recordCount {
                let segment = record(index)
                guard !segment.pointee.delivered, let held = sacked.range(containing: segment.pointee.start),
                      seqLessOrEqual(segment.pointee.end, held.end) else { continue }
                segment.pointee.delivered = true
                if segment.pointee.lost {
                    segment.pointee.lost = false
                    lostBytes &-= segment.pointee.length
                }
                delivered(segment.pointee, now: now)
            }
        }
        guard rackSentAt != 0 else { return false }
        // A quarter of the minimum RTT to start with; once recoveries proved spurious, quarters
        // of the smoothed RTT (a path that reorders has a minimum RTT of its fastest packets).
        let base = reorderingQuarters > 1 ? timeout.smoothed / 4 * reorderingQuarters : minimumRTT / 4
        let window = min(max(base, 1_000_000), max(timeout.smoothed, 1_000_000))
        var newLoss = false
        var deadline: UInt64 = 0
        for index in 0..<recordCount {
            let segment = record(index)
            guard !segment.pointee.delivered, !segment.pointee.lost else { continue }
            let sentBefore = segment.pointee.sentAt < rackSentAt
                || (segment.pointee.sentAt == rackSentAt && seqLess(segment.pointee.end, rackEnd))
            guard sentBefore else { continue }
            let due = segment.pointee.sentAt &+ rackRTT &+ window
            if now >= due {
                segment.pointee.lost = true
                lostBytes &+= segment.pointee.length
                newLoss = true
            } else if deadline == 0 || due < deadline {
                deadline = due
            }
        }
        reorderDeadline = deadline
        return newLoss
    }

    /// A segment reached the peer: the newest such (by send time) dates the others.
    private func delivered(_ segment: SentSegment, now: UInt64) {
        let rtt = now &- segment.sentAt
        // A resent segment delivered sooner than any round trip was the original's arrival.
        if segment.retransmitted, rtt < minimumRTT { return }
        if !segment.retransmitted { minimumRTT = min(minimumRTT, rtt) }
        if segment.sentAt > rackSentAt || (segment.sentAt == rackSentAt && seqLess(rackEnd, segment.end)) {
            rackSentAt = segment.sentAt
            rackEnd = segment.end
            rackRTT = rtt
        }
    }

    /// On a retransmission timeout every segment not delivered is taken as lost.
    func markAllLost() {
        for index in 0..<recordCount {
            let segment = record(index)
            guard !segment.pointee.delivered, !segment.pointee.lost else { continue }
            segment.pointee.lost = true
            lostBytes &+= segment.pointee.length
        }
        reorderDeadline = 0
    }

    /// Bytes in the network by the SACK scoreboard (RFC 6675's pipe): sent, not
    /// cumulatively acknowledged, not SACKed, not lost.
    var pipe: UInt32 {
        // (A lost segment the SACK blocks cover in part would count twice: never below 0.)
        let outstanding = Int64(sendHighest &- sendUnacknowledged)
        return UInt32(max(0, outstanding - Int64(sacked.bytes(above: sendUnacknowledged)) - Int64(lostBytes)))
    }

    /// Resends segments marked lost, oldest first, while the window allows.
    func resendLost(now: UInt64) {
        var index = 0
        while lostBytes > 0, index < recordCount, outbox.count < outbox.capacity, pipe < congestionWindow {
            let segment = record(index).pointee
            index += 1
            guard segment.lost else { continue }
            // (A segment the peer acknowledged in part is resent from the acknowledgment.)
            let start = seqMax(segment.start, sendUnacknowledged)
            sendSegment(at: start, limit: Int(segment.end &- start), now: now, retransmission: true)
            counters.fastRetransmits &+= 1
        }
    }
}

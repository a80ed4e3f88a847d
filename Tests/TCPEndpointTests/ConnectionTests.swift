import MBoxCapture
import MBoxPacket
import MBoxTCPEndpoint
import MBoxTransmit
import Testing

/// Two `TCPConnection`s joined by a simulated link that loses, reorders and delays
/// segments by a fixed seed: whatever the link does, the bytes must arrive whole and in
/// order, and the sender must never overrun the receiver's window.
struct ConnectionTests {
    struct LinkConditions {
        var loss = 0.0
        var reorder = 0.0
        var delay: UInt64 = 5_000_000
        /// Bytes the receiving application reads per millisecond (0: all it can).
        var readRate = 0
    }

    struct Outcome: CustomStringConvertible {
        var received: [UInt8] = []
        /// Whether exactly `bytes` arrived (a Bool, so a failure does not print megabytes).
        func intact(_ bytes: [UInt8]) -> Bool { received == bytes }
        var description: String {
            "finished \(finished) after \(milliseconds) ms; sender \(sender); receiver \(receiver); \(states)"
        }
        var sender = ConnectionCounters()
        var receiver = ConnectionCounters()
        var finished = false
        var milliseconds = 0
        var states = ""
    }

    /// Sends `bytes` from one connection to the other over `conditions`.
    static func transfer(_ bytes: [UInt8], _ conditions: LinkConditions, seed: UInt64 = 1, bufferSize: Int = 64 * 1024) -> Outcome {
        let a = IPAddress("10.0.0.1")!, b = IPAddress("10.0.0.2")!
        let macA = MACAddress(2, 0, 0, 0, 0, 1), macB = MACAddress(2, 0, 0, 0, 0, 2)
        var setupA = ConnectionSetup(local: a, localPort: 40000, remote: b, remotePort: 80,
                                     link: LinkFraming(destination: macB, source: macA), egress: .back,
                                     sendNext: 1_000_001, receiveNext: 4_000_000_001, peerMSS: 1460, peerWindow: 65535)
        // Seeds choose the options: both, timestamps without SACK (NewReno's duplicate ACKs
        // find losses), SACK without timestamps (RACK finds them).
        setupA.timestamps = seed % 2 == 1
        setupA.sackPermitted = seed % 4 < 2 || seed % 4 == 0
        setupA.peerScale = 7
        setupA.ourScale = 7
        setupA.sendCapacity = bufferSize
        setupA.receiveCapacity = bufferSize
        var setupB = ConnectionSetup(local: b, localPort: 80, remote: a, remotePort: 40000,
                                     link: LinkFraming(destination: macA, source: macB), egress: .back,
                                     sendNext: 4_000_000_001, receiveNext: 1_000_001, peerMSS: 1460, peerWindow: 65535)
        setupB.timestamps = setupA.timestamps
        setupB.timestampOffset = 77_777
        setupB.sackPermitted = setupA.sackPermitted
        setupB.peerScale = 7
        setupB.ourScale = 7
        setupB.sendCapacity = bufferSize
        setupB.receiveCapacity = bufferSize
        let outboxA = FrameOutbox(capacity: 256), outboxB = FrameOutbox(capacity: 256)
        let sender = TCPConnection(setupA, outbox: outboxA), receiver = TCPConnection(setupB, outbox: outboxB)
        var random = SplitMix(seed: seed)
        var inFlight: [(at: UInt64, toB: Bool, frame: [UInt8])] = []
        var outcome = Outcome()
        var written = 0
        var now: UInt64 = 1_000_000_000

        func collect(_ outbox: FrameOutbox, toB: Bool) {
            for index in 0..<outbox.count {
                if random.chance(conditions.loss) { continue }
                var delay = conditions.delay
                if random.chance(conditions.reorder) { delay += UInt64(random.next() % 4_000_000) }
                inFlight.append((now + delay, toB, Array(outbox.frame(index).bytes)))
            }
            outbox.removeAll()
        }

        for millisecond in 0..<600_000 {
            now += 1_000_000
            // Deliver what is due, in order of arrival time.
            inFlight.sort { $0.at < $1.at }
            while let first = inFlight.first, first.at <= now {
                inFlight.removeFirst()
                var headers = PacketHeaders()
                first.frame.withUnsafeBytes { frame in
                    guard case .ok = PacketParser.parse(frame, linkType: .ethernet, into: &headers) else { return }
                    let target = first.toB ? receiver : sender
                    _ = target.receive(headers, packet: frame, now: now)
                    target.transmit(now: now)
                }
            }
            // The applications.
            if written < bytes.count {
                written += bytes[written...].withUnsafeBytes { sender.write($0) }
                if written == bytes.count { sender.shutdown() }
            }
            var readable = receiver.readable
            if conditions.readRate > 0 { readable = min(readable, conditions.readRate) }
            if readable > 0 {
                let start = outcome.received.count
                outcome.received.append(contentsOf: repeatElement(0, count: readable))
                outcome.received.withUnsafeMutableBytes { receiver.copyReceived(from: 0, length: readable, to: $0.baseAddress! + start) }
                receiver.consume(readable)
            }
            if receiver.finReceived, receiver.readable == 0, !receiver.sendDone { receiver.shutdown() }
            sender.tick(now: now)
            receiver.tick(now: now)
            collect(outboxA, toB: true)
            collect(outboxB, toB: false)
            if sender.isFinished, receiver.isFinished {
                outcome.finished = true
                outcome.milliseconds = millisecond
                break
            }
            if sender.wasReset || receiver.wasReset { break }
        }
        outcome.states = "sender: \(sender.stateDescription) receiver: \(receiver.stateDescription)"
        outcome.sender = sender.counters
        outcome.receiver = receiver.counters
        return outcome
    }

    static func payload(_ count: Int) -> [UInt8] {
        var random = SplitMix(seed: 42)
        return (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
    }

    @Test func losslessTransferNeedsNoRetransmission() {
        let bytes = Self.payload(1_000_000)
        for seed: UInt64 in [1, 2] {
            let outcome = Self.transfer(bytes, LinkConditions(), seed: seed)
            #expect(outcome.finished)
            let intact = outcome.intact(bytes)
            #expect(intact, "\(outcome.received.count) of \(bytes.count) bytes, \(outcome)")
            #expect(outcome.sender.timeoutRetransmits == 0)
            #expect(outcome.sender.fastRetransmits == 0)
            #expect(outcome.receiver.dropped == 0, "the sender kept inside the window")
        }
    }

    @Test(arguments: [(0.01, 0.0), (0.02, 0.2), (0.05, 0.3), (0.15, 0.1)])
    func lossAndReorderingAreRepaired(loss: Double, reorder: Double) {
        let bytes = Self.payload(300_000)
        for seed: UInt64 in [3, 4] {
            let outcome = Self.transfer(bytes, LinkConditions(loss: loss, reorder: reorder), seed: seed)
            #expect(outcome.finished, "loss \(loss) reorder \(reorder) seed \(seed)")
            let intact = outcome.intact(bytes)
            #expect(intact, "\(outcome.received.count) of \(bytes.count) bytes, \(outcome)")
            #expect(outcome.sender.fastRetransmits + outcome.sender.timeoutRetransmits > 0)
            if loss <= 0.02 {
                // Most losses are repaired by SACK recovery, not by the timer.
                #expect(outcome.sender.fastRetransmits > outcome.sender.timeoutRetransmits)
            }
        }
    }

    @Test func aSlowReaderClosesTheWindow() {
        let bytes = Self.payload(600_000)
        // 2 KB per millisecond: the 64 KB buffer fills and the window closes repeatedly.
        let outcome = Self.transfer(bytes, LinkConditions(readRate: 2_000), seed: 5, bufferSize: 32 * 1024)
        #expect(outcome.finished)
        let intact = outcome.intact(bytes)
        #expect(intact, "\(outcome.received.count) of \(bytes.count) bytes, \(outcome)")
        #expect(outcome.receiver.dropped <= outcome.sender.timeoutRetransmits + 2,
                "only window probes land beyond a closed window")
        #expect(outcome.milliseconds >= 290, "paced by the reader")
    }
}

/// A small deterministic generator.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func chance(_ probability: Double) -> Bool {
        probability > 0 && Double(next() % 1_000_000) / 1_000_000 < probability
    }
}

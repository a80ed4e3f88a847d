import Atomics
import Dispatch
import MBoxCapture
import MBoxDPDK
import MBoxNF
import MBoxTransmit

/// Set by SIGINT/SIGTERM: the receive loops end after their current burst. An atomic (a
/// lock-free store, safe in a signal handler), not a plain global: the handler runs on a
/// thread that may be reading the flag, which a plain variable makes an access conflict.
let stopRequest = ManagedAtomic<Bool>(false)

/// Whether SIGINT/SIGTERM asked the agent to stop.
var stopRequested: Bool { stopRequest.load(ordering: .relaxed) }

/// The stages a receive loop runs each packet through, fixed for one round of bursts (a
/// pushed config swaps them only between rounds), so the packet path holds constants.
protocol BurstWork {
    func process(_ packet: CapturedPacket) throws -> Verdict
    /// Frames the stages emitted for the packet just processed.
    var outbox: FrameOutbox { get }
    /// Runs the stacks' timers; what they send is then in `outbox`.
    func tick(now: UInt64)
}

/// The DPDK receive loop: bursts from the input port through the agent; inline (with an
/// output port) the two ports are bridged both ways — what arrives on either leaves on
/// the other by verdict — and passive packets are consumed.
struct DPDKLoop {
    enum Stop {
        /// After this long without a packet (finite sources such as net_pcap).
        case idle(milliseconds: Int)
        /// After this long, or on SIGINT/SIGTERM (0: only on a signal).
        case after(seconds: Double)
    }

    let input: DPDKPort
    let output: DPDKPort?
    let stop: Stop

    /// Installs SIGINT/SIGTERM handlers that ask the loop to stop (and unblocks the two
    /// signals: a parent may have started us with them blocked).
    static func stopOnSignals() {
        _ = stopRequested  // initialised before a handler can touch it
        signal(SIGINT) { _ in stopRequest.store(true, ordering: .relaxed) }
        signal(SIGTERM) { _ in stopRequest.store(true, ordering: .relaxed) }
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Bursts until the stop condition. `nextBurst` runs once per round of bursts (config
    /// changes, counters) and returns the stages for that round, which are then constants
    /// for every packet in it.
    /// Returns the nanoseconds spent on rounds that had packets (the loop's work, without
    /// its empty polls: what a busy-polling agent really spends on traffic).
    @discardableResult
    func run<Work: BurstWork>(_ nextBurst: () -> Work) throws -> UInt64 {
        let start = DispatchTime.now().uptimeNanoseconds
        var lastPacket = start
        var lastTick = start
        var busy: UInt64 = 0
        while !stopRequested {
            let work = nextBurst()
            let roundStart = DispatchTime.now().uptimeNanoseconds
            var received = try bridge(from: input, to: output, work)
            if let output { received += try bridge(from: output, to: input, work) }
            let now = DispatchTime.now().uptimeNanoseconds
            if now &- lastTick >= Self.tickInterval {
                // Stacks' timers (retransmissions no packet triggers), once a millisecond.
                lastTick = now
                work.tick(now: Self.wallClock())
                if work.outbox.count > 0 { Self.transmitTimed(work.outbox, ports: input, output) }
            }
            if received > 0 { busy &+= now &- roundStart }
            if received == 0 {
                switch stop {
                case let .idle(milliseconds) where now - lastPacket > UInt64(milliseconds) * 1_000_000: return busy
                case let .after(seconds) where seconds > 0 && Double(now - start) / 1e9 > seconds: return busy
                default: continue
                }
            }
            lastPacket = now
            if case let .after(seconds) = stop, seconds > 0, Double(now - start) / 1e9 > seconds { return busy }
        }
        return busy
    }

    /// One burst from `port`, each packet through the stages, then the whole burst out of
    /// `peer` by verdict (or freed). Returns how many arrived.
    @inline(__always)
    private func bridge<Work: BurstWork>(from port: DPDKPort, to peer: DPDKPort?, _ work: Work) throws -> Int {
        let received = port.receive()
        guard received > 0 else { return 0 }
        let now = Self.wallClock()
        let outbox = work.outbox
        for index in 0..<received {
            switch try work.process(port.packet(index, timestamp: now)) {
            case .forward: break
            case .drop: port.drop(index)
            case .consumed: port.consume(index)
            }
            if outbox.count > 0 { Self.transmit(outbox, arrivedOn: port, peer: peer) }
        }
        port.endBurst(forwardingTo: peer)
        port.flush()  // answers sent back out of the arrival port
        return received
    }

    /// Sends what the stages emitted for a packet that arrived on `port`: answers back out
    /// of it, the rest out of `peer` (in passive mode, with no peer, those have nowhere to go).
    static func transmit(_ outbox: FrameOutbox, arrivedOn port: DPDKPort, peer: DPDKPort?) {
        for index in 0..<outbox.count {
            let (bytes, egress) = outbox.frame(index)
            switch egress {
            case .back: port.transmit(copying: bytes)
            case .onward: peer?.transmit(copying: bytes)
            case let .port(id): (UInt32(port.id) == id ? port : peer)?.transmit(copying: bytes)
            }
        }
        outbox.removeAll()
    }

    static let tickInterval: UInt64 = 1_000_000

    /// Sends frames a timer emitted, each out of the port it names, and flushes both ports.
    static func transmitTimed(_ outbox: FrameOutbox, ports input: DPDKPort, _ output: DPDKPort?) {
        for index in 0..<outbox.count {
            let (bytes, egress) = outbox.frame(index)
            guard case let .port(id) = egress else { continue }
            (UInt32(input.id) == id ? input : output)?.transmit(copying: bytes)
        }
        outbox.removeAll()
        input.flush()
        output?.flush()
    }

    /// Whether the run should end now: a signal, or `stop`'s time since `started` is up.
    static func stopped(_ stop: Stop, started: UInt64) -> Bool {
        if stopRequested { return true }
        if case let .after(seconds) = stop, seconds > 0 { return Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 > seconds }
        return false
    }

    /// Nanoseconds since the epoch: live packets are stamped with wall-clock time, once per
    /// burst, since alerts and EVE lines carry it.
    static func wallClock() -> UInt64 {
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME, &clock)
        return UInt64(clock.tv_sec) * 1_000_000_000 + UInt64(clock.tv_nsec)
    }

    static func describe(_ input: DPDKPort, _ output: DPDKPort?) -> String {
        func line(_ port: DPDKPort) -> String {
            let c = port.readCounters()
            return "port         \(port.name): rx \(c.rxPackets), tx \(c.txPackets), dropped by verdict \(c.droppedByVerdict), "
                + "tx refused \(c.txRefused), missed \(c.rxMissed), rx errors \(c.rxErrors), no mbuf \(c.rxNoMbuf)"
                + (c.rxMultiSegment > 0 ? ", multi-segment \(c.rxMultiSegment)" : "") + "\n"
        }
        return line(input) + (output.map(line) ?? "")
    }
}

#if canImport(Glibc)
import Glibc
#endif

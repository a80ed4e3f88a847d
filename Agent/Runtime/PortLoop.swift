import Atomics
import Dispatch
import MBoxCapture
import MBoxNFRunner
import MBoxTransmit

/// The stages a receive loop runs each packet through, fixed for one round of bursts (a
/// pushed config swaps them only between rounds), so the packet path holds constants.
public protocol BurstWork {
    /// One packet through every stage; its verdict.
    func process(_ packet: CapturedPacket) throws -> Verdict
    /// Frames the stages emitted for the packet just processed (or by a timer).
    var outbox: FrameOutbox { get }
    /// Runs the stacks' timers at `now`; what they send is then in `outbox`.
    func tick(now: UInt64)
}

/// When a loop ends, besides SIGINT/SIGTERM (which always end it): any of its conditions.
public struct LoopStop: Sendable {
    /// When the input is exhausted (a capture file read to its end).
    public var atEndOfInput = false
    /// After this long without a packet (finite live sources such as net_pcap).
    public var idleMilliseconds: Int?
    /// After this long since the loop's `started` (0: no limit).
    public var afterSeconds: Double = 0

    public init(atEndOfInput: Bool = false, idleMilliseconds: Int? = nil, afterSeconds: Double = 0) {
        self.atEndOfInput = atEndOfInput
        self.idleMilliseconds = idleMilliseconds
        self.afterSeconds = afterSeconds
    }

    public static let endOfInput = LoopStop(atEndOfInput: true)
    public static func idle(milliseconds: Int) -> LoopStop { LoopStop(idleMilliseconds: milliseconds) }
    /// An exhausted input is then polled once a millisecond, not spun on.
    public static func after(seconds: Double) -> LoopStop { LoopStop(afterSeconds: seconds) }

    /// Whether the time limit has passed at monotonic `now` for a run that began at `started`.
    @inline(__always)
    public func timeIsUp(now: UInt64, started: UInt64) -> Bool {
        afterSeconds > 0 && Double(now &- started) / 1e9 > afterSeconds
    }

    /// Whether a run idle since `lastPacket` has been idle too long at `now`.
    @inline(__always)
    public func idleTooLong(now: UInt64, lastPacket: UInt64) -> Bool {
        guard let idleMilliseconds else { return false }
        return now &- lastPacket > UInt64(idleMilliseconds) * 1_000_000
    }
}

/// The one receive loop, for any port: bursts from `input` through the stages; inline
/// (with `output`) the two ports are bridged both ways — what arrives on either leaves
/// by the other by verdict — and passively packets are released after the stages. Frames
/// the stages emit leave by the port their egress names. Timers run once a millisecond.
public struct PortLoop<Port: PacketPort> {
    public let input: Port
    public let output: Port?
    public let stop: LoopStop
    /// Monotonic nanoseconds `.after` counts from.
    public let started: UInt64

    public init(input: Port, output: Port? = nil, stop: LoopStop, started: UInt64 = DispatchTime.now().uptimeNanoseconds) {
        self.input = input
        self.output = output
        self.stop = stop
        self.started = started
    }

    /// Packets a round takes before its between-round work (configs, counters, timers).
    public static var roundSize: Int { 32 }

    /// How often the stacks' timers run.
    public static var tickInterval: UInt64 { 1_000_000 }

    /// Bursts until the stop condition. `nextBurst` runs once per round of bursts (config
    /// changes, counters) and returns the stages for that round, constants for every packet
    /// in it. Returns the nanoseconds spent on rounds that had packets (the loop's work
    /// without its empty polls: what a busy-polling agent really spends on traffic).
    @discardableResult
    public func run<Work: BurstWork>(_ nextBurst: () -> Work) throws -> UInt64 {
        var lastPacket = DispatchTime.now().uptimeNanoseconds
        var lastTick = lastPacket
        var busy: UInt64 = 0
        // One clock read a round: a round starts when the one before it ended.
        var roundStart = lastPacket
        while !StopSignal.requested {
            let work = nextBurst()
            // A round is a burst's worth of packets (or an empty poll): ports that deliver
            // fewer at a time (a capture file reads record by record) are polled again
            // within the round, so the between-round work stays once per burst.
            let outbox = work.outbox  // fetched once a round: a reference fetched per packet is a retain per packet
            var received = 0
            repeat {
                var got = try bridge(from: input, to: output, work, outbox)
                if let output { got += try bridge(from: output, to: input, work, outbox) }
                guard got > 0 else { break }
                received += got
            } while received < Self.roundSize
            let now = DispatchTime.now().uptimeNanoseconds
            if now &- lastTick >= Self.tickInterval {
                lastTick = now
                work.tick(now: input.clock)
                if outbox.count > 0 {
                    send(outbox, arrivedOn: nil)
                    input.flush()
                    output?.flush()
                }
            }
            if received > 0 {
                busy &+= now &- roundStart
                lastPacket = now
            }
            roundStart = now
            if stop.timeIsUp(now: now, started: started) { return busy }
            guard received == 0 else { continue }
            if stop.atEndOfInput, input.isExhausted, output?.isExhausted ?? true { return busy }
            if stop.idleTooLong(now: now, lastPacket: lastPacket) { return busy }
            if input.isExhausted { usleep(1000) }
        }
        return busy
    }

    /// One burst from `port`, each packet through the stages, then the whole burst out of
    /// `peer` by verdict (or released). Returns how many arrived.
    @inline(__always)
    private func bridge<Work: BurstWork>(from port: Port, to peer: Port?, _ work: Work, _ outbox: FrameOutbox) throws -> Int {
        let received = port.receive()
        guard received > 0 else { return 0 }
        let now = Port.stampsArrival ? wallClock() : 0
        for index in 0..<received {
            switch try work.process(port.packet(index, timestamp: now)) {
            case .forward: break
            case .drop: port.drop(index)
            case .consumed: port.consume(index)
            }
            if outbox.count > 0 { send(outbox, arrivedOn: port) }
        }
        port.endBurst(forwardingTo: peer)
        port.flush()  // answers sent back out of the arrival port
        return received
    }

    /// Sends what the stages emitted: answers back out of the port the packet arrived on,
    /// onward frames out of the other one, frames for a named port out of it. A timer's
    /// frames (no arrival port) go only where they name a port. In passive mode (no output)
    /// onward frames have nowhere to go.
    @inline(__always)
    private func send(_ outbox: FrameOutbox, arrivedOn port: Port?) {
        for index in 0..<outbox.count {
            let (bytes, egress) = outbox.frame(index)
            switch egress {
            case .back: port?.transmit(copying: bytes)
            case .onward: if let port { (port === input ? output : input)?.transmit(copying: bytes) }
            case let .port(id): (UInt32(input.id) == id ? input : output)?.transmit(copying: bytes)
            }
        }
        outbox.removeAll()
    }
}

/// SIGINT/SIGTERM as a request to stop: every loop ends after its current burst.
public enum StopSignal {
    /// An atomic (a lock-free store, safe in a signal handler), not a plain global: the
    /// handler runs on a thread that may be reading the flag.
    private static let flag = ManagedAtomic<Bool>(false)

    /// Whether a stop was asked for.
    @inline(__always)
    public static var requested: Bool { flag.load(ordering: .relaxed) }

    /// Asks every loop to stop (what the signal handlers do).
    public static func request() { flag.store(true, ordering: .relaxed) }

    /// Installs SIGINT/SIGTERM handlers that ask the loops to stop (and unblocks the two
    /// signals: a parent may have started us with them blocked).
    public static func installHandlers() {
        _ = requested  // initialised before a handler can touch it
        signal(SIGINT) { _ in StopSignal.request() }
        signal(SIGTERM) { _ in StopSignal.request() }
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Whether a run that began at `started` (monotonic ns) should end now under `stop`.
    public static func reached(_ stop: LoopStop, started: UInt64) -> Bool {
        if requested { return true }
        return stop.timeIsUp(now: DispatchTime.now().uptimeNanoseconds, started: started)
    }
}

#if canImport(Glibc)
import Glibc
#endif

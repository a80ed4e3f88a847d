import Dispatch
import MBoxCapture
import MBoxDPDK
import MBoxNF

/// Set by SIGINT/SIGTERM: the receive loop ends after its current burst.
nonisolated(unsafe) var stopRequested: sig_atomic_t = 0

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
        signal(SIGINT) { _ in stopRequested = 1 }
        signal(SIGTERM) { _ in stopRequested = 1 }
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Bursts until the stop condition; `between` runs once per round of bursts (config
    /// changes, counters), never per packet.
    func run(_ process: (CapturedPacket) throws -> Verdict, between: () -> Void = {}) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        var lastPacket = start
        while stopRequested == 0 {
            between()
            var received = try bridge(from: input, to: output, process)
            if let output { received += try bridge(from: output, to: input, process) }
            let now = DispatchTime.now().uptimeNanoseconds
            if received == 0 {
                switch stop {
                case let .idle(milliseconds) where now - lastPacket > UInt64(milliseconds) * 1_000_000: return
                case let .after(seconds) where seconds > 0 && Double(now - start) / 1e9 > seconds: return
                default: continue
                }
            }
            lastPacket = now
            if case let .after(seconds) = stop, seconds > 0, Double(now - start) / 1e9 > seconds { return }
        }
    }

    /// One burst from `port`, each packet through the agent, then out of `peer` by verdict
    /// (or freed). Returns how many arrived.
    @inline(__always)
    private func bridge(from port: DPDKPort, to peer: DPDKPort?, _ process: (CapturedPacket) throws -> Verdict) throws -> Int {
        let received = port.receive()
        guard received > 0 else { return 0 }
        let now = Self.wallClock()
        for index in 0..<received {
            let verdict = try process(port.packet(index, timestamp: now))
            if let peer, verdict == .forward {
                port.forward(index, to: peer)
            } else {
                port.release(index, dropped: verdict == .drop)
            }
        }
        peer?.flush()
        return received
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
                + "tx refused \(c.txRefused), missed \(c.rxMissed), rx errors \(c.rxErrors), no mbuf \(c.rxNoMbuf)\n"
        }
        return line(input) + (output.map(line) ?? "")
    }
}

#if canImport(Glibc)
import Glibc
#endif

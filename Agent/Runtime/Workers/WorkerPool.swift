import Atomics
import Dispatch
import Foundation
import MBoxConcurrency
import MBoxCapture
import MBoxChain
import MBoxDataPath
import MBoxDPDK
import MBoxFlow
import MBoxNFRunner
import MBoxNFs
import MBoxPacket
import MBoxTransmit

/// Several workers behind one DPDK port pair: the thread that owns the ports receives
/// bursts and hands each packet to a worker chosen by the symmetric flow hash (so both
/// directions of a flow meet the same worker and its flow table), through a lock-free
/// single-producer/single-consumer ring; each worker runs its own stages (an
/// `AgentRuntime`: data path, chain, alerts, pushed configs) and hands the packet back
/// with its verdict through a second ring; the port thread forwards or frees.
public final class WorkerPool: Sendable {
    struct Job {
        var mbuf: UnsafeMutableRawPointer
        var packet: CapturedPacket
        /// 0: arrived on the input port, 1: on the output port.
        var from: UInt8
    }
    struct Done {
        var mbuf: UnsafeMutableRawPointer
        var from: UInt8
        var verdict: Verdict
        /// A frame a stage emitted, not a received packet.
        var emitted = false
    }

    /// `@unchecked Sendable`: a worker's fields are written by its own thread (the runtime,
    /// `failure`, `emitted`) or by the port thread (`ringFull`, `mbufSource` before the first
    /// job); the two meet only through the rings and the `stopping`/`stopped` atomics.
    final class Worker: @unchecked Sendable {
        let runtime: AgentRuntime
        let jobs = SPSCRing<Job>(capacity: 4096)
        let done = SPSCRing<Done>(capacity: 4096)
        var thread: Thread?
        let stopping = ManagedAtomic<Bool>(false)
        let stopped = ManagedAtomic<Bool>(false)
        /// The first alert output failure (EVE file), reported at the end.
        var failure: Error?
        /// Packets the port thread found this worker's ring full for (and waited; nothing
        /// is dropped). Written by the port thread only.
        var ringFull: UInt64 = 0
        /// Frames the worker's stages emitted (handed to the port thread as packets).
        var emitted: UInt64 = 0

        init(runtime: AgentRuntime) {
            self.runtime = runtime
        }

        /// On EAL worker lcore `lcore` when given (its own mempool cache), else on a thread.
        func start(index: Int, lcore: UInt32?) {
            if let lcore, (try? Lcores.launch(lcore, { [unowned self] in self.loop() })) != nil { return }
            let thread = Thread { [unowned self] in self.loop() }
            thread.name = "mbox-worker-\(index)"
            self.thread = thread
            thread.start()
        }

        /// Jobs in rounds of up to a burst, with the between-burst work (pushed configs,
        /// counters) between rounds and while idle, and the stacks' timers once a millisecond.
        private func loop() {
            var idle = 0
            var burst = runtime.nextBurst()
            var inRound = 0
            var lastTick = DispatchTime.now().uptimeNanoseconds
            while true {
                if let job = jobs.pop() {
                    idle = 0
                    var verdict = Verdict.forward
                    do { verdict = try burst.process(job.packet) } catch { if failure == nil { failure = error } }
                    while !done.push(Done(mbuf: job.mbuf, from: job.from, verdict: verdict)) { sched_yield() }
                    if burst.outbox.count > 0 { handOver(burst.outbox, arrivedFrom: job.from) }
                    inRound += 1
                    if inRound < DPDKPort.burstSize { continue }
                }
                burst = runtime.nextBurst()
                inRound = 0
                let now = DispatchTime.now().uptimeNanoseconds
                if now &- lastTick >= PortLoop<DPDKPort>.tickInterval {
                    lastTick = now
                    burst.tick(now: wallClock())
                    if burst.outbox.count > 0 { handOver(burst.outbox, arrivedFrom: nil) }
                }
                if stopping.load(ordering: .acquiring) { break }
                idle += 1
                if idle > 100_000 { sched_yield() }
            }
            do { try runtime.finish(timestamp: wallClock()) } catch { if failure == nil { failure = error } }
            stopped.store(true, ordering: .releasing)
        }

        /// The port mbufs for emitted frames come from (set before the first job).
        var mbufSource: DPDKPort?

        /// Emitted frames go to the port thread as forwarded packets. A `Done`'s `from` names
        /// the port a frame must not leave by (the port thread sends it out of the other one):
        /// answers leave by the port their packet arrived on, onward frames by the other,
        /// frames for a named port by it. A timer's frames (no arrival) only by a named port.
        private func handOver(_ outbox: FrameOutbox, arrivedFrom: UInt8?) {
            for index in 0..<outbox.count {
                let (bytes, egress) = outbox.frame(index)
                let from: UInt8
                switch egress {
                case .back:
                    guard let arrivedFrom else { continue }
                    from = 1 - arrivedFrom
                case .onward:
                    guard let arrivedFrom else { continue }
                    from = arrivedFrom
                case let .port(id):
                    from = UInt32(mbufSource?.id ?? 0) == id ? 1 : 0
                }
                guard let mbuf = mbufSource?.makeMbuf(copying: bytes) else { continue }
                while !done.push(Done(mbuf: mbuf, from: from, verdict: .forward, emitted: true)) { sched_yield() }
                emitted &+= 1
            }
            outbox.removeAll()
        }
    }

    let workers: [Worker]

    init(runtimes: [AgentRuntime], lcores: [UInt32]) {
        workers = runtimes.map(Worker.init)
        // The port thread is the main lcore; workers go to EAL's worker lcores when it has
        // one for each of them.
        placement = lcores.count >= workers.count ? "on EAL lcores \(lcores.prefix(workers.count).map(String.init).joined(separator: ", "))"
            : "on threads (EAL has \(lcores.count) worker lcores; --lcores with \(workers.count + 1) entries puts them there)"
        for (index, worker) in workers.enumerated() {
            worker.start(index: index, lcore: lcores.count >= workers.count ? lcores[index] : nil)
        }
    }

    /// Where the workers run, for the report.
    let placement: String

    /// Receives from both ports until `stop` says so, distributing by flow, forwarding by verdict.
    func run(input: DPDKPort, output: DPDKPort?, stop: LoopStop) {
        let start = DispatchTime.now().uptimeNanoseconds
        var lastPacket = start
        var headers = PacketHeaders()
        var inFlight = 0
        for worker in workers { worker.mbufSource = input }
        func collect() {
            for worker in workers {
                while let done = worker.done.pop() {
                    if !done.emitted { inFlight -= 1 }
                    let arrival = done.from == 0 ? input : output!
                    let departure = done.from == 0 ? output : input
                    if let departure, done.verdict == .forward {
                        departure.send(done.mbuf)
                    } else {
                        arrival.free(done.mbuf, dropped: done.verdict == .drop)
                    }
                }
            }
            input.flush()
            output?.flush()
        }
        func distribute(_ port: DPDKPort, from: UInt8) -> Int {
            // Packets copied out of several segments live in the port's scratch space
            // until its next receive: let the workers finish them first (rare: jumbo frames).
            if port.copiedInLastBurst > 0 { while inFlight > 0 { collect() } }
            let received = port.receive()
            guard received > 0 else { return 0 }
            let now = wallClock()
            for index in 0..<received {
                let packet = port.packet(index, timestamp: now)
                var hash: UInt32 = 0
                if case .ok = PacketParser.parse(packet.data, linkType: packet.linkType, into: &headers) {
                    hash = SymmetricFlowHash.hash(source: headers.source, sourcePort: headers.sourcePort,
                                                  destination: headers.destination, destinationPort: headers.destinationPort,
                                                  ipProtocol: headers.ipProtocol)
                }
                let worker = workers[Int(hash % UInt32(workers.count))]
                let job = Job(mbuf: port.take(index)!, packet: packet, from: from)
                if !worker.jobs.push(job) {
                    worker.ringFull &+= 1
                    repeat { collect() } while !worker.jobs.push(job)
                }
                inFlight += 1
            }
            return received
        }
        while !StopSignal.requested {
            var received = distribute(input, from: 0)
            if let output { received += distribute(output, from: 1) }
            collect()
            let now = DispatchTime.now().uptimeNanoseconds
            if received > 0 { lastPacket = now }
            if received == 0, inFlight == 0, stop.idleTooLong(now: now, lastPacket: lastPacket) { break }
            if stop.timeIsUp(now: now, started: start) { break }
        }
        while inFlight > 0 { collect() }
        for worker in workers { worker.stopping.store(true, ordering: .releasing) }
        for worker in workers { while !worker.stopped.load(ordering: .acquiring) { sched_yield() } }
    }
}

extension WorkerPool {
    /// Runs `count` workers (their runtimes from `makeRuntimes`, given where helpers of
    /// parallel NFs start) behind the ports until `stop`, then prints each worker's
    /// summary and the totals. With `waitForConfig`, no packet is read before every
    /// worker runs the controller's config.
    public static func runAndReport(count: Int, input: DPDKPort, output: DPDKPort?, stop: LoopStop, waitForConfig: Bool = false,
                             makeRuntimes: (HelperLauncher) throws -> [AgentRuntime]) throws {
        // Workers take the first worker lcores (when there are enough); helpers of parallel
        // NFs the rest.
        let lcores = Lcores.workers()
        let helpers = HelperLcores(free: lcores.count >= count ? Array(lcores.dropFirst(count)) : lcores)
        let runtimes = try makeRuntimes(helpers.launcher)
        FileHandle.standardError.write(Data(helpers.report.utf8))
        let started = Date()
        let pool = WorkerPool(runtimes: runtimes, lcores: lcores)
        FileHandle.standardError.write(Data("workers      \(pool.placement)\n".utf8))
        if waitForConfig { runtimes[0].waitUntilConfigured(stop: stop, started: DispatchTime.now().uptimeNanoseconds, takingConfig: false) }
        pool.run(input: input, output: output, stop: stop)
        let seconds = Date().timeIntervalSince(started)
        FileHandle.standardError.write(Data((input.reportLine + (output?.reportLine ?? "")).utf8))
        report(runtimes, seconds: seconds) { index in
            "worker \(index)      ring full \(pool.workers[index].ringFull) times (the port thread waited)\n"
        }
        if let failure = pool.workers.compactMap(\.failure).first { throw failure }
    }

    /// Each worker's summary after its `heading`, then the totals.
    public static func report(_ runtimes: [AgentRuntime], seconds: Double, heading: (Int) -> String) {
        for (index, runtime) in runtimes.enumerated() {
            FileHandle.standardError.write(Data(heading(index).utf8))
            RunSummary(dataPath: runtime.dataPath, pipeline: runtime.pipeline, seconds: seconds, flowsWritten: nil, alertsWritten: nil).print()
        }
        let total = runtimes.reduce(UInt64(0)) { $0 + $1.dataPath.counters.packets }
        FileHandle.standardError.write(Data(String(format: "all workers  %llu packets, %.0f packets/s; alerts %d written (EVE)\n",
                                                   total, Double(total) / seconds, runtimes.first?.eve?.written ?? 0).utf8))
    }
}

import Dispatch
import Foundation
import MBoxCapture
import MBoxChain
import MBoxDataPath
import MBoxDPDK
import MBoxNFRunner
import MBoxNFs

/// Several workers on ports with RSS: each worker thread owns one RX/TX queue pair of each
/// port — the device's symmetric hash keeps both directions of a flow on one queue — and
/// runs its own pipeline over the same receive loop as a single worker, forwarding by
/// verdict on its own queues. No distributor thread; no packet crosses cores.
public enum QueueWorkers {
    /// `@unchecked Sendable`: handed to its thread once; read back after that thread ended.
    final class Worker: @unchecked Sendable {
        let runtime: AgentRuntime
        let input: DPDKPort
        let output: DPDKPort?
        var failure: Error?

        init(runtime: AgentRuntime, input: DPDKPort, output: DPDKPort?) {
            self.runtime = runtime
            self.input = input
            self.output = output
        }
    }

    /// Same contract as `WorkerPool.runAndReport`.
    public static func runAndReport(count: Int, input: DPDKPort, output: DPDKPort?, stop: LoopStop, waitForConfig: Bool = false,
                             makeRuntimes: (HelperLauncher) throws -> [AgentRuntime]) throws {
        // Workers 1… take the first worker lcores (when there are enough); helpers of
        // parallel NFs the rest.
        let lcores = Lcores.workers()
        let helpers = HelperLcores(free: lcores.count >= count - 1 ? Array(lcores.dropFirst(count - 1)) : lcores)
        let workers = try makeRuntimes(helpers.launcher).enumerated().map { index, runtime in
            Worker(runtime: runtime, input: input.lane(index), output: output?.lane(index))
        }
        FileHandle.standardError.write(Data(helpers.report.utf8))
        let started = Date()
        /// One worker's whole run: the single-worker loop on its own queues.
        @Sendable func work(_ worker: Worker) {
            do {
                if waitForConfig { worker.runtime.waitUntilConfigured(stop: stop, started: DispatchTime.now().uptimeNanoseconds) }
                try PortLoop(input: worker.input, output: worker.output, stop: stop).run(worker.runtime.nextBurst)
                try worker.runtime.finish(timestamp: wallClock())
            } catch {
                worker.failure = error
            }
        }
        // On EAL lcores when EAL has enough (worker 0 on this thread, the main lcore): they
        // have per-lcore mempool caches. Otherwise on threads.
        if lcores.count >= count - 1 {
            FileHandle.standardError.write(Data("workers      on EAL lcores: main, \(lcores.prefix(count - 1).map(String.init).joined(separator: ", "))\n".utf8))
            for (index, worker) in workers.enumerated().dropFirst() { try Lcores.launch(lcores[index - 1]) { work(worker) } }
            work(workers[0])
            for lcore in lcores.prefix(count - 1) { Lcores.wait(lcore) }
        } else {
            FileHandle.standardError.write(Data("workers      on threads (EAL has \(lcores.count) worker lcores; --lcores with \(count) entries puts them there)\n".utf8))
            let finished = DispatchGroup()
            for (index, worker) in workers.enumerated() {
                finished.enter()
                let thread = Thread {
                    work(worker)
                    finished.leave()
                }
                thread.name = "mbox-queue-\(index)"
                thread.start()
            }
            finished.wait()
        }
        let seconds = Date().timeIntervalSince(started)
        WorkerPool.report(workers.map(\.runtime), seconds: seconds) { index in
            "worker \(index)      queue \(index)\n" + workers[index].input.reportLine + (workers[index].output?.reportLine ?? "")
        }
        if let failure = workers.compactMap(\.failure).first { throw failure }
    }
}

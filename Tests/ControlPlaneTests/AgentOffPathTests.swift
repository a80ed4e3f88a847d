import Foundation
import MBoxAgentControl
import MBoxRuntime
import MBoxChain
import MBoxControlPlane
import MBoxDataPath
import MBoxProto
import MBoxTCPMonitor
import Testing

/// What the agent does beside the packet path: writing alerts, building pushed chains,
/// confining pushed chains' files.
@Suite("Agent: alerts and chains off the packet path", .serialized)
struct AgentOffPathTests {
    @Test("Four workers push 200,000 alerts at once: all reach the spool, each worker's in its order, none twice")
    func alertWriterKeepsEverything() async throws {
        let scratch = try ScratchDirectory()
        let spool = try AlertSpool(directory: scratch.file("spool"))
        let writer = AlertWriter(spool: spool, workers: 4)
        let perWorker = 50_000
        try await offPool {
            DispatchQueue.concurrentPerform(iterations: 4) { worker in
                let ring = writer.ring(worker)
                for index in 0..<perWorker {
                    var alert = syntheticRecord(index)
                    alert.flowID = UInt64(worker * perWorker + index)
                    // A full ring is counted, never silent; a worker that must not lose one retries.
                    while !ring.push(alert) { usleep(100) }
                }
            }
            writer.flush()
        }
        #expect(spool.pendingCount == 4 * perWorker)
        let stored = try spool.pending(after: 0, limit: 4 * perWorker)
        #expect(stored.map(\.sequence) == (1...UInt64(4 * perWorker)).map { $0 })
        #expect(Set(stored.map(\.flowID)).count == 4 * perWorker)
        for worker in 0..<4 {
            let mine = stored.map(\.flowID).filter { $0 / UInt64(perWorker) == UInt64(worker) }
            #expect(mine == mine.sorted(), "worker \(worker)'s alerts out of order")
        }
    }

    @Test("A ring too small for a burst counts what it refused; what it took is all in the spool")
    func alertRingOverflowIsCounted() throws {
        let scratch = try ScratchDirectory()
        let spool = try AlertSpool(directory: scratch.file("spool"))
        let writer = AlertWriter(spool: spool, workers: 1, capacity: 4)
        let ring = writer.ring(0)
        var taken = 0
        for index in 0..<20_000 where ring.push(syntheticRecord(index)) { taken += 1 }
        writer.flush()
        #expect(taken + Int(writer.overflowed) == 20_000)
        #expect(writer.overflowed > 0, "the burst never filled the ring; nothing was tested")
        #expect(spool.pendingCount == taken)
    }

    @Test("A posted chain's stages are built when it is posted, not when the data path takes it")
    func stagesPreparedOnPost() throws {
        let spec = chainSpec(idsChain(dynamic: false), rules: ["rules.rules": sqlRule])
        let compiled = try ChainSpecCompiler().compile(spec)
        var settings = DataPathConfiguration()
        settings.reassembly = ReassemblyConfiguration()
        let configuration = settings
        let slot = ConfigSlot()
        let built = Counter()
        let reader = slot.makeReader { chain in
            built.increment()
            return try chain.prepareStages(for: configuration, launcher: .threads)
        }
        slot.post(ConfigSlot.Update(version: 7, chain: compiled, spec: spec))
        #expect(built.value == 1, "built at post")
        let update = try #require(reader.take())
        let stages = try #require(reader.preparedStages(for: update.version)).get()
        #expect(stages.runner.members.count == 2)
        #expect(reader.preparedStages(for: update.version) == nil, "taken once")
        #expect(built.value == 1)
    }

    @Test("A pushed Logger writes only under the agent's state directory")
    func pushedLoggerIsConfined() throws {
        let scratch = try ScratchDirectory()
        func logger(_ path: String) -> Mbox_V1_ChainSpec {
            chainSpec("""
                name: logging
                stack: {type: l2l3}
                functions:
                  - name: log
                    type: Logger
                    parameters: {path: "\(path)"}
                    subscribe: [PKT]
                """, rules: [:])
        }
        for escape in ["/etc/mbox-owned", "../outside.log", "logs/../../outside.log", "a//b.log", ""] {
            #expect(throws: (any Error).self, "\(escape)") { _ = try ChainSpecCompiler().compile(logger(escape)) }
        }
        do {
            _ = try ChainSpecCompiler().compile(logger("/etc/mbox-owned"))
        } catch {
            #expect("\(error)".contains("state directory"), "\(error)")
        }
        let compiled = try ChainSpecCompiler().compile(logger("logs/packets.log"), outputDirectory: scratch.file("output"))
        let pipeline = try compiled.makePipeline(configuration: DataPathConfiguration())
        #expect(FileManager.default.fileExists(atPath: scratch.file("output/logs/packets.log")))
        pipeline.chain.finish()
        // /dev/null stays allowed (the default).
        _ = try ChainSpecCompiler().compile(logger("/dev/null"))
    }
}

/// A count shared with a closure.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

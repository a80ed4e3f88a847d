import Foundation
import MBoxAgentControl
import MBoxRuntime
import MBoxProto
import Testing

@Suite("Alert spool: durable until acknowledged")
struct SpoolTests {
    @Test("Pending alerts survive reopening; sequences continue; the spool id stays")
    func reopen() throws {
        let scratch = try ScratchDirectory()
        var spoolID: UInt64 = 0
        do {
            let spool = try AlertSpool(directory: scratch.path)
            spoolID = spool.spoolID
            for index in 0..<100 { #expect(spool.append(syntheticAlert(index))) }
            let pending = try spool.pending(after: 0, limit: 1000)
            #expect(pending.map(\.sequence) == Array(1...100))
            #expect(pending.allSatisfy { $0.spoolID == spoolID })
            #expect(pending[41].flowID == 41)
            try spool.acknowledge(through: 40)
            #expect(spool.pendingCount == 60)
        }
        let spool = try AlertSpool(directory: scratch.path)
        #expect(spool.spoolID == spoolID)
        #expect(spool.lastAcknowledged == 40)
        let pending = try spool.pending(after: spool.lastAcknowledged, limit: 1000)
        #expect(pending.map(\.sequence) == Array(41...100))
        #expect(spool.append(syntheticAlert(100)))
        #expect(try spool.pending(after: 100, limit: 10).map(\.sequence) == [101])
    }

    @Test("A torn last record (crash mid-write) is cut off; the records before it stay")
    func tornTail() throws {
        let scratch = try ScratchDirectory()
        do {
            let spool = try AlertSpool(directory: scratch.path)
            for index in 0..<10 { spool.append(syntheticAlert(index)) }
        }
        let log = FileHandle(forWritingAtPath: scratch.path + "/alerts.log")!
        log.seekToEndOfFile()
        log.write(Data([200, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]))  // claims 200 bytes, has 3
        try log.close()
        let spool = try AlertSpool(directory: scratch.path)
        #expect(spool.pendingCount == 10)
        #expect(spool.append(syntheticAlert(10)))
        let pending = try spool.pending(after: 0, limit: 100)
        #expect(pending.map(\.sequence) == Array(1...11))
        #expect(pending.last?.flowID == 10)
    }

    @Test("A full spool refuses and counts; acknowledging everything empties the log and sequences go on")
    func bounded() throws {
        let scratch = try ScratchDirectory()
        let spool = try AlertSpool(directory: scratch.path, maximumBytes: 4096)
        var accepted = 0
        for index in 0..<200 where spool.append(syntheticAlert(index)) { accepted += 1 }
        #expect(accepted > 10 && accepted < 200)
        #expect(spool.refused == UInt64(200 - accepted))
        #expect(spool.pendingCount == accepted)
        try spool.acknowledge(through: UInt64(accepted))
        #expect(spool.pendingCount == 0)
        let size = try FileManager.default.attributesOfItem(atPath: scratch.path + "/alerts.log")[.size] as? Int
        #expect(size == 0)
        #expect(spool.append(syntheticAlert(999)))
        #expect(try spool.pending(after: 0, limit: 10).map(\.sequence) == [UInt64(accepted + 1)])
    }

    @Test("Compaction keeps exactly the unacknowledged records")
    func compaction() throws {
        let scratch = try ScratchDirectory()
        let spool = try AlertSpool(directory: scratch.path)
        var alert = syntheticAlert(0)
        alert.signature = String(repeating: "x", count: 900)
        for _ in 0..<3000 { spool.append(alert) }
        try spool.acknowledge(through: 2500)
        let size = try FileManager.default.attributesOfItem(atPath: scratch.path + "/alerts.log")[.size] as? Int ?? 0
        #expect(size < 500 * 1000, "the acknowledged part was compacted away")
        #expect(try spool.pending(after: 2500, limit: 1000).map(\.sequence) == Array(2501...3000))
        let reopened = try AlertSpool(directory: scratch.path)
        #expect(reopened.pendingCount == 500)
    }
}

import Foundation
import MBoxControllerCore
import MBoxProto
import Testing

@Suite("Stores: SQLite and PostgreSQL", .serialized)
struct StoreTests {
    @Test("A batch sent twice is stored once; queries filter by agent, sid, address and time", arguments: StoreKind.allCases)
    func alerts(kind: StoreKind) async throws {
        let fixture = try await StoreFixture.make(kind)
        let store = try await fixture.open()
        func batch(_ range: ClosedRange<Int>, spool: UInt64 = 7) -> [Mbox_V1_Alert] {
            range.map { index in
                var alert = syntheticAlert(index)
                alert.sequence = UInt64(index)
                alert.spoolID = spool
                return alert
            }
        }
        let first = try await store.insertAlerts(batch(1...100), agent: "edge-1")
        #expect(first.stored.count == 100 && first.duplicates == 0)
        let second = try await store.insertAlerts(batch(50...150), agent: "edge-1")
        #expect(second.stored.count == 50 && second.duplicates == 51)
        #expect(second.stored.first?.sequence == 101)
        // Same sequences from another spool (the agent's state was wiped) are new alerts.
        #expect(try await store.insertAlerts(batch(1...10, spool: 8), agent: "edge-1").stored.count == 10)
        #expect(try await store.insertAlerts(batch(1...5), agent: "edge-2").stored.count == 5)
        #expect(try await store.alertCount() == 165)

        var query = Mbox_V1_AlertQuery()
        query.agent = "edge-2"
        #expect(try await store.allAlerts(matching: query).count == 5)
        query = Mbox_V1_AlertQuery()
        query.sid = 1_000_003
        let bySID = try await store.allAlerts(matching: query)
        #expect(!bySID.isEmpty && bySID.allSatisfy { $0.sid == 1_000_003 })
        query = Mbox_V1_AlertQuery()
        query.ip = "10.0.3.3"
        #expect(try await store.allAlerts(matching: query).allSatisfy { $0.flow.srcIp == "10.0.3.3" })
        query = Mbox_V1_AlertQuery()
        query.sinceUnixUs = 1_700_000_000_000_000 + 140
        query.agent = "edge-1"
        #expect(try await store.allAlerts(matching: query).map(\.sequence) == Array(140...150))
        query = Mbox_V1_AlertQuery()
        query.limit = 3
        let newest = try await store.allAlerts(matching: query)
        #expect(newest.map(\.timestampUs) == newest.map(\.timestampUs).sorted() && newest.count == 3)
        #expect(newest.last?.sequence == 150)
    }

    @Test("Chains, agents and the revision counter survive reopening", arguments: StoreKind.allCases)
    func persistence(kind: StoreKind) async throws {
        let fixture = try await StoreFixture.make(kind)
        do {
            let store = try await fixture.open()
            #expect(try await store.nextRevision() == 1)
            #expect(try await store.nextRevision() == 2)
            var record = Mbox_V1_ChainRecord()
            record.spec = chainSpec(idsChain(), rules: ["rules.rules": sqlRule])
            record.spec.name = "ids-edge"
            record.revision = 2
            try await store.putChain(record)
            var agent = AgentRecord(name: "edge-1")
            agent.labels = ["role": "ids"]
            agent.desiredVersion = 2
            agent.appliedVersion = 2
            try await store.putAgent(agent)
        }
        let store = try await fixture.open()
        #expect(try await store.nextRevision() == 3)
        #expect(try await store.chains().map(\.spec.name) == ["ids-edge"])
        #expect(try await store.chains().first?.spec.ruleSets.first?.text == sqlRule)
        #expect(try await store.agent(named: "edge-1")?.labels == ["role": "ids"])
        #expect(try await store.agent(named: "edge-1")?.appliedVersion == 2)
        #expect(try await store.deleteChain(named: "ids-edge"))
        #expect(try await store.deleteChain(named: "ids-edge") == false)
    }
}

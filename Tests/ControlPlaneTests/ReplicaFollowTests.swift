import Foundation
import MBoxControlPlane
import MBoxControllerCore
import MBoxProto
import Testing

/// Live follows on a replica see the alerts every replica stores (PostgreSQL always).
@Suite("Replicas: live alert follows across controllers", .serialized)
struct ReplicaFollowTests {
    @Test("A follow on replica B receives, once each and in order, the alerts replica A stores; its filters hold")
    func followAcrossReplicas() async throws {
        let fixture = try await StoreFixture.make(.postgres)
        let a = Controller(store: try await fixture.open())
        let b = Controller(store: try await fixture.open())
        var query = Mbox_V1_AlertQuery()
        query.agent = "edge-1"
        let (everything, all) = await b.follow(Mbox_V1_AlertQuery())
        let (filtered, some) = await b.follow(query)
        let batches = [(agent: "edge-1", range: 1...600), (agent: "edge-2", range: 1...300), (agent: "edge-1", range: 601...900)]
        for batch in batches {
            let alerts = batch.range.map { index -> Mbox_V1_Alert in
                var alert = syntheticAlert(index)
                alert.sequence = UInt64(index)
                alert.spoolID = 5
                return alert
            }
            _ = try await a.ingest(batch.agent, alerts)
        }
        // Resent after a cut: stored once, so not announced again.
        var again = syntheticAlert(1)
        again.sequence = 1
        again.spoolID = 5
        _ = try await a.ingest("edge-1", [again])

        func take(_ stream: AsyncStream<Mbox_V1_Alert>, _ count: Int) async -> [Mbox_V1_Alert] {
            let collecting = Task { () -> [Mbox_V1_Alert] in
                var taken: [Mbox_V1_Alert] = []
                for await alert in stream {
                    taken.append(alert)
                    if taken.count == count { break }
                }
                return taken
            }
            let timeout = Task { try await Task.sleep(for: .seconds(20)); collecting.cancel() }
            defer { timeout.cancel() }
            return await collecting.value
        }
        let seen = await take(everything, 1200)
        #expect(seen.count == 1200, "every alert A stored reached B's follow")
        #expect(seen.filter { $0.agent == "edge-1" }.map(\.sequence) == (1...900).map(UInt64.init), "in order, once")
        #expect(seen.filter { $0.agent == "edge-2" }.map(\.sequence) == (1...300).map(UInt64.init))
        let onlyEdge1 = await take(filtered, 900)
        #expect(onlyEdge1.count == 900 && onlyEdge1.allSatisfy { $0.agent == "edge-1" })
        await b.unfollow(all)
        await b.unfollow(some)
        await a.closeStreams()
        await b.closeStreams()
    }
}

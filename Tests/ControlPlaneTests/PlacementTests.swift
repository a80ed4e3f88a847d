import Foundation
import MBoxControlPlane
import MBoxControllerCore
import MBoxProto
import Testing

@Suite("Placement: which agent runs which chain, and when it changes")
struct PlacementTests {
    /// Registers `name` with `labels` and returns its config stream.
    static func join(_ controller: Controller, _ name: String, _ labels: [String: String]) async throws
        -> AsyncStream<Mbox_V1_AgentConfig>.AsyncIterator {
        var request = Mbox_V1_RegisterRequest()
        request.name = name
        request.labels = labels
        _ = try await controller.register(PeerIdentity(role: .agent, name: name), request)
        return try await controller.watch(name).0.makeAsyncIterator()
    }

    @Test("Selectors place chains; moving, deleting and relabelling re-place them with new versions")
    func placement() async throws {
        _ = try ScratchDirectory()
        let (store, fixture) = try await makeTestStore()
        defer { withExtendedLifetime(fixture) {} }
        let controller = Controller(store: store)
        var edge = try await Self.join(controller, "edge", ["role": "ids", "site": "a"])
        var web = try await Self.join(controller, "web", ["role": "web"])
        #expect(await edge.next()?.hasChain == false)
        #expect(await web.next()?.hasChain == false)

        var spec = chainSpec(idsChain(name: "ids", placement: "role: ids"), rules: ["rules.rules": sqlRule])
        spec.selector = ["role": "ids"]
        let created = try await controller.apply(spec)
        #expect(created.agents == ["edge"])
        let first = await edge.next()
        #expect(first?.chain.name == "ids" && first?.version == created.revision)

        // The same placement again: nothing to push.
        #expect(try await controller.apply(spec).outcome == "unchanged")

        // Move it to the web agent.
        spec.selector = ["role": "web"]
        let moved = try await controller.apply(spec)
        #expect(moved.agents == ["edge", "web"])
        let edgeAfterMove = await edge.next()
        let webAfterMove = await web.next()
        #expect(edgeAfterMove?.hasChain == false && edgeAfterMove?.version == moved.revision)
        #expect(webAfterMove?.chain.name == "ids" && webAfterMove?.version == moved.revision)

        // Two chains select the same agent: the first by name runs.
        var other = chainSpec(idsChain(name: "aaa-first", placement: "role: web"), rules: ["rules.rules": sqlRule])
        other.selector = ["role": "web"]
        _ = try await controller.apply(other)
        #expect(await web.next()?.chain.name == "aaa-first")

        // Relabelled at registration: the edge agent now matches "role: web" too.
        var relabel = Mbox_V1_RegisterRequest()
        relabel.name = "edge"
        relabel.labels = ["role": "web"]
        _ = try await controller.register(PeerIdentity(role: .agent, name: "edge"), relabel)
        #expect(await edge.next()?.chain.name == "aaa-first")

        // Deleted: its agents fall back to what else selects them.
        let deleted = try await controller.delete(chain: "aaa-first")
        #expect(Set(deleted.agents) == ["edge", "web"])
        #expect(await web.next()?.chain.name == "ids")
        let agents = try await controller.agents()
        #expect(agents.map(\.chain) == ["ids", "ids"])
        #expect(agents.allSatisfy { $0.desiredVersion == deleted.revision })
    }
}

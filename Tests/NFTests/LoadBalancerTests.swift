import Foundation
import MBoxAppLayer
@testable import MBoxNFs
import MBoxPacket
import Testing

@Suite("L7 load balancer") struct LoadBalancerTests {
    let web = ["10.0.0.11:80", "10.0.0.12:80", "10.0.0.13:80"].compactMap(Backend.init)
    let api = ["10.0.0.21:8080"].compactMap(Backend.init)

    /// What the balancer reads of a request, parsed as the application-layer stage parses it.
    func facts(_ text: String, serverPort: UInt16 = 80) -> L7LoadBalancer.RequestFacts {
        let needs = L7LoadBalancer.needs
        let flow = AppLayerFlow(serverPort: serverPort, wanted: needs.buffers, parsed: needs.parsedProtocols)
        let transactions = Array(text.utf8).withUnsafeBytes { flow.feed($0, toServer: true) }
        return transactions.first.map(L7LoadBalancer.facts(of:)) ?? L7LoadBalancer.RequestFacts()
    }

    @Test("a request's Host (port stripped, any case) and path pick the pool by the first matching rule")
    func rulesPickPools() {
        let balancer = L7LoadBalancer(pools: [web, api], rules: [BalancingRule(host: "api.example", pathPrefix: "/v1/", pool: 1),
                                                                 BalancingRule(pool: 0)], method: .roundRobin)
        let apiRequest = facts("GET /v1/users HTTP/1.1\r\nHost: API.example:8080\r\nAccept: */*\r\n\r\n")
        #expect(apiRequest.host == "api.example" && apiRequest.path == "/v1/users")
        #expect(balancer.pool(for: apiRequest) == 1)
        #expect(balancer.pool(for: facts("GET /v2/users HTTP/1.1\r\nHost: api.example\r\n\r\n")) == 0)
        #expect(balancer.pool(for: facts("GET / HTTP/1.1\r\nHost: www.example\r\n\r\n")) == 0)
        // A fully qualified Host (trailing dot) names the same host.
        #expect(facts("GET / HTTP/1.1\r\nHost: API.example.\r\n\r\n").host == "api.example")
        // A request head cut short (longer than the splicer holds): no host, the default pool.
        #expect(facts("GET /v1/users HTTP/1.1\r\nHost: api.exa").host == nil)
        #expect(Backend("10.0.0.1") == nil && Backend("::1:80") == nil && Backend("10.0.0.1:0") == nil)
    }

    @Test("round robin goes around the pool; least connections starts with the first idle backend")
    func methods() {
        let client = IPAddress(192, 0, 2, 1)
        let robin = L7LoadBalancer(pools: [web], rules: [BalancingRule(pool: 0)], method: .roundRobin)
        #expect((0..<6).map { _ in robin.pick(in: 0, client: client, now: 0) } == [0, 1, 2, 0, 1, 2])
        let least = L7LoadBalancer(pools: [web], rules: [BalancingRule(pool: 0)], method: .leastConnections)
        #expect(least.pick(in: 0, client: client, now: 0) == 0)
    }

    @Test("consistent hashing: a client keeps its backend, and a backend leaving moves only its own clients")
    func consistentHash() {
        let balancer = L7LoadBalancer(pools: [web], rules: [BalancingRule(pool: 0)], method: .hash)
        let clients = (0..<600).map { IPAddress(10, 1, UInt8($0 / 250), UInt8($0 % 250)) }
        let before = clients.map { balancer.pick(in: 0, client: $0, now: 0)! }
        #expect(clients.map { balancer.pick(in: 0, client: $0, now: 0)! } == before, "stable")
        let spread = Dictionary(grouping: before, by: { $0 }).mapValues(\.count)
        #expect(spread.count == 3 && spread.values.allSatisfy { $0 > 100 }, "spread over every backend: \(spread)")
        let shrunk = L7LoadBalancer(pools: [Array(web.prefix(2))], rules: [BalancingRule(pool: 0)], method: .hash)
        let after = clients.map { shrunk.pick(in: 0, client: $0, now: 0)! }
        for (old, new) in zip(before, after) where old != 2 { #expect(old == new, "a client of a remaining backend moved") }
    }
}

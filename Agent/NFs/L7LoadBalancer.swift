import MBoxAppLayer
import MBoxDetect
import MBoxEvents
import MBoxNFRunner
import MBoxPacket
import MBoxRules

/// A backend server.
public struct Backend: Sendable, Hashable, CustomStringConvertible {
    public var address: IPAddress
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// "a.b.c.d:port".
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]), port > 0,
              let address = IPAddress(String(text[..<colon])), address.isIPv4 else { return nil }
        self.init(address: address, port: port)
    }

    public var description: String { "\(address):\(port)" }
}

/// How a pool spreads requests over its backends.
public enum BalancingMethod: String, Sendable, CaseIterable {
    case roundRobin = "round_robin"
    case leastConnections = "least_connections"
    /// Consistent hashing of the client's address (a ring of virtual nodes): a client
    /// keeps its backend, and a backend leaving moves only its own clients.
    case hash
}

/// Which pool a request goes to: the first rule whose every given field matches.
public struct BalancingRule: Sendable {
    /// HTTP Host (port stripped, case-insensitive).
    public var host: String?
    /// HTTP request path prefix.
    public var pathPrefix: String?
    /// TLS server name (SNI).
    public var serverName: String?
    public var pool: Int

    public init(host: String? = nil, pathPrefix: String? = nil, serverName: String? = nil, pool: Int) {
        self.host = host
        self.pathPrefix = pathPrefix
        self.serverName = serverName
        self.pool = pool
    }
}

/// L7 load balancer on the TCP Splicer: for each `FLOW_REQ` it reads the request's HTTP
/// Host and path, or TLS SNI — as the application-layer stage parsed them, once for every
/// NF that reads them — picks a pool by the first matching rule, and a backend in it
/// by the pool's method; a backend that refused a connection is left out for
/// `retryAfter` seconds (the splicer asks again, and the balancer picks another).
public final class L7LoadBalancer: NetworkFunction {
    public let pools: [[Backend]]
    public let rules: [BalancingRule]
    public let method: BalancingMethod
    public let retryAfter: UInt64
    /// Requests per backend (pool, index), and requests no rule or backend took.
    public private(set) var picks: [[UInt64]]
    public private(set) var unmatched: UInt64 = 0
    public private(set) var failuresSeen: UInt64 = 0
    private var context: NFContext!
    private var nextInPool: [Int]
    private var active: [[Int]]
    private var downUntil: [[UInt64]]
    private var rings: [[(point: UInt64, backend: Int)]]
    /// Per flow slot: the backend picked (pool << 16 | index), or -1.
    private var chosen: [Int32] = []

    public init(pools: [[Backend]], rules: [BalancingRule], method: BalancingMethod, retryAfterSeconds: Int = 10) {
        self.pools = pools
        self.rules = rules
        self.method = method
        retryAfter = UInt64(retryAfterSeconds) * 1_000_000_000
        picks = pools.map { [UInt64](repeating: 0, count: $0.count) }
        nextInPool = [Int](repeating: 0, count: pools.count)
        active = pools.map { [Int](repeating: 0, count: $0.count) }
        downUntil = pools.map { [UInt64](repeating: 0, count: $0.count) }
        rings = pools.map { backends in
            backends.enumerated().flatMap { index, backend in
                (0..<64).map { replica in (Self.mix("\(backend)#\(replica)"), index) }
            }.sorted { $0.point < $1.point }
        }
    }

    public func attach(_ context: NFContext) {
        self.context = context
        chosen = [Int32](repeating: -1, count: context.capacity)
    }

    public func flowEnded(slot: Int32) {
        let pick = chosen[Int(slot)]
        guard pick >= 0 else { return }
        active[Int(pick >> 16)][Int(pick & 0xFFFF)] -= 1
        chosen[Int(slot)] = -1
    }

    public func handle(_ event: Event) {
        guard event.type == .flowRequest else { return }
        let slot = Int(event.slot)
        var retriedPool: Int?
        if chosen[slot] >= 0 {
            // The splicer asks again: the backend picked before refused.
            let pick = chosen[slot]
            let (pool, index) = (Int(pick >> 16), Int(pick & 0xFFFF))
            retriedPool = pool
            downUntil[pool][index] = event.timestamp &+ retryAfter
            active[pool][index] -= 1
            chosen[slot] = -1
            failuresSeen &+= 1
        }
        // The request was parsed by the stage when the splicer first asked; asked again, the
        // pool stays the one its request chose.
        let pool: Int?
        if let retried = retriedPool { pool = retried } else { pool = self.pool(for: requestFacts(event)) }
        guard let pool, let index = pick(in: pool, client: context.flowKey(of: event).client, now: event.timestamp) else {
            unmatched &+= 1
            return
        }
        chosen[slot] = Int32(pool << 16 | index)
        active[pool][index] += 1
        picks[pool][index] &+= 1
        let backend = pools[pool][index]
        context.chooseBackend(for: event, address: backend.address, port: backend.port)
    }

    /// What a request says about where it wants to go.
    struct RequestFacts: Equatable {
        var host: String?
        var path: String?
        var serverName: String?
    }

    /// What the balancer reads: the request's host and raw URI, or the ClientHello's SNI.
    public static let needs = DetectionNeeds(detecting: [.http, .tls], parsing: [.http, .tls],
                                             buffers: [.httpHost, .httpURIRaw, .tlsSNI])

    /// The facts of the request a `FLOW_REQ` carries, from the transaction the stage made of it.
    private func requestFacts(_ event: Event) -> RequestFacts {
        var facts = RequestFacts()
        var found = false
        context.appLayer?.forEachTransaction(flowID: event.flowID, toServer: true, after: 0, through: UInt64(event.dataLength)) {
            transaction in
            guard !found else { return }
            found = true
            facts = Self.facts(of: transaction)
        }
        return facts
    }

    /// A request's facts: the stage's `http.host` (lower-cased, port stripped), the raw URI's
    /// path, or the SNI (lower-cased).
    static func facts(of transaction: AppTransaction) -> RequestFacts {
        var facts = RequestFacts()
        func text(_ buffer: InspectionBuffer) -> String? {
            var value: String?
            _ = transaction.buffers.first(buffer) { bytes in
                value = String(decoding: bytes, as: UTF8.self)
                return true
            }
            return value
        }
        switch transaction.buffers.protocolName {
        case .http:
            facts.host = text(.httpHost)
            facts.path = text(.httpURIRaw)
        case .tls:
            facts.serverName = text(.tlsSNI)?.lowercased()
        default:
            break
        }
        return facts
    }

    func pool(for facts: RequestFacts) -> Int? {
        for rule in rules {
            if let host = rule.host, facts.host != host { continue }
            if let prefix = rule.pathPrefix, !(facts.path ?? "").hasPrefix(prefix) { continue }
            if let name = rule.serverName, facts.serverName != name { continue }
            return rule.pool
        }
        return nil
    }

    /// A backend of `pool` that is not resting after a failure.
    func pick(in pool: Int, client: IPAddress, now: UInt64) -> Int? {
        let backends = pools[pool]
        guard !backends.isEmpty else { return nil }
        let up = { (index: Int) in self.downUntil[pool][index] <= now }
        switch method {
        case .roundRobin:
            for step in 0..<backends.count {
                let index = (nextInPool[pool] + step) % backends.count
                if up(index) {
                    nextInPool[pool] = (index + 1) % backends.count
                    return index
                }
            }
        case .leastConnections:
            return backends.indices.filter(up).min { active[pool][$0] < active[pool][$1] }
        case .hash:
            let ring = rings[pool]
            let point = Self.mix(client.description)
            let start = ring.firstIndex { $0.point >= point } ?? 0
            for step in 0..<ring.count where up(ring[(start + step) % ring.count].backend) {
                return ring[(start + step) % ring.count].backend
            }
        }
        return nil
    }

    /// FNV-1a, then a finaliser: stable across runs (Swift's Hasher is seeded per process).
    static func mix(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        hash ^= hash >> 33
        hash = hash &* 0xff51_afd7_ed55_8ccd
        return hash ^ (hash >> 33)
    }
}

// MARK: - Its kind: parameters read from the chain file, beside the NF.

extension L7LoadBalancer {
    /// The L7 load balancer: answers the TCP Splicer's FLOW_REQ with a backend.
    public static let kind = NFKind(type: "L7_LoadBalancer", action: .readOnly, publishes: [],
                                     parameters: ["pools", "rules", "balance", "retry_after"]) { parameters, _, _ in
        let methodName = parameters.string("balance", default: "round_robin") ?? "round_robin"
        let method = BalancingMethod(rawValue: methodName)
        if method == nil {
            parameters.error(nil, "L7_LoadBalancer 'balance' is \(BalancingMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let retry = parameters.int("retry_after", default: 10, range: 0...86_400)
        var names: [String] = []
        var pools: [[Backend]] = []
        if let (items, location) = parameters.map("pools") {
            for (name, value) in items {
                guard case let .list(entries) = value, !entries.isEmpty else {
                    parameters.error(location, "pool '\(name)' is a non-empty list of backends (address:port)")
                    continue
                }
                var backends: [Backend] = []
                for entry in entries {
                    guard case let .string(text) = entry.asString, let backend = Backend(text) else {
                        parameters.error(location, "pool '\(name)': '\(entry)' is not an IPv4 address:port")
                        continue
                    }
                    backends.append(backend)
                }
                names.append(name)
                pools.append(backends)
            }
        } else {
            parameters.error(nil, "L7_LoadBalancer needs 'pools' (name: [address:port, …])")
        }
        var rules: [BalancingRule] = []
        if let (items, location) = parameters.list("rules") {
            for item in items {
                guard case let .map(fields) = item else {
                    parameters.error(location, "each L7_LoadBalancer rule is a mapping (host, path, sni, pool)")
                    continue
                }
                var rule = BalancingRule(pool: -1)
                for (key, value) in fields {
                    guard case let .string(text) = value.asString else {
                        parameters.error(location, "rule field '\(key)' must be a string"); continue
                    }
                    switch key {
                    case "host": rule.host = text.lowercased()
                    case "path": rule.pathPrefix = text
                    case "sni": rule.serverName = text.lowercased()
                    case "pool":
                        guard let index = names.firstIndex(of: text) else {
                            parameters.error(location, "rule names pool '\(text)', which 'pools' does not define"); continue
                        }
                        rule.pool = index
                    default: parameters.error(location, "unknown rule field '\(key)' (host, path, sni, pool)")
                    }
                }
                if rule.pool < 0 { parameters.error(location, "each rule names its 'pool'") } else { rules.append(rule) }
            }
        } else if pools.count == 1 {
            rules = [BalancingRule(pool: 0)]
        } else if !pools.isEmpty {
            parameters.error(nil, "with several pools, 'rules' say which requests go to which")
        }
        guard let method else { return nil }
        let (frozenPools, frozenRules) = (pools, rules)
        return NFPreparation(needs: L7LoadBalancer.needs) {
            L7LoadBalancer(pools: frozenPools, rules: frozenRules, method: method, retryAfterSeconds: retry)
        }
    }
}

import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import MBoxControlPlane
import MBoxControllerCore
import MBoxProto
import Testing

@Suite("Identity and access over mutual TLS", .serialized)
struct SecurityTests {
    /// The RPC error `body` throws, or nil if it succeeds.
    static func rpcError(_ body: () async throws -> Void) async -> RPCError? {
        do {
            try await body()
            return nil
        } catch let error as RPCError {
            return error
        } catch {
            return RPCError(code: .unknown, message: "\(error)")
        }
    }

    @Test("Operators list; an agent certificate on an operator call is refused with permissionDenied")
    func operatorCalls() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let running = try await RunningController(in: scratch, pki: pki)
        defer { Task { await running.stop() } }
        let agents = try await withClient(running.endpoint, tls: pki.files("alice")) { client in
            try await Mbox_V1_OperatorService.Client(wrapping: client).listAgents(.init(), options: shortDeadline).agents
        }
        #expect(agents.isEmpty)
        let refused = await Self.rpcError {
            _ = try await withClient(running.endpoint, tls: pki.files("edge-1")) { client in
                try await Mbox_V1_OperatorService.Client(wrapping: client).listChains(.init(), options: shortDeadline)
            }
        }
        #expect(refused?.code == .permissionDenied)
        #expect(refused?.message.contains("agent 'edge-1'") == true)
        #expect(refused?.message.contains("operator certificate") == true)
        await running.stop()
    }

    @Test("No client certificate, or one from another CA: the handshake fails, nothing is served")
    func strangers() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let other = try TestPKI(in: scratch, name: "other-pki")
        let running = try await RunningController(in: scratch, pki: pki)

        // TLS that trusts the controller but presents no certificate.
        let anonymous = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: running.port),
            transportSecurity: .tls { $0.trustRoots = .certificates([.file(path: pki.files("alice").ca, format: .pem)]) })
        let noCertificate = await Self.rpcError {
            try await withGRPCClient(transport: anonymous) { client in
                _ = try await Mbox_V1_OperatorService.Client(wrapping: client).listAgents(.init(), options: shortDeadline)
            }
        }
        #expect(noCertificate != nil)
        #expect([.unavailable, .deadlineExceeded, .unauthenticated].contains(noCertificate!.code))

        // An operator certificate from another CA (it trusts our controller's CA, so only
        // the server's check can refuse it).
        var foreign = other.files("alice")
        foreign.ca = pki.files("alice").ca
        let foreignCA = await Self.rpcError {
            _ = try await withClient(running.endpoint, tls: foreign) { client in
                try await Mbox_V1_OperatorService.Client(wrapping: client).listAgents(.init(), options: shortDeadline)
            }
        }
        #expect(foreignCA != nil)
        #expect([.unavailable, .deadlineExceeded, .unauthenticated].contains(foreignCA!.code))
        #expect(try await running.controller.agents().isEmpty)
        await running.stop()
    }

    @Test("An agent can register, report and send alerts only as itself")
    func agentsSpeakForThemselves() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let running = try await RunningController(in: scratch, pki: pki)
        try await withClient(running.endpoint, tls: pki.files("edge-1")) { client in
            let service = Mbox_V1_AgentService.Client(wrapping: client)
            var register = Mbox_V1_RegisterRequest()
            register.name = "edge-2"
            let impostor = await Self.rpcError { _ = try await service.register(register, options: shortDeadline) }
            #expect(impostor?.code == .permissionDenied)
            #expect(impostor?.message.contains("may not speak for agent 'edge-2'") == true)

            register.name = "edge-1"
            let reply = try await service.register(register, options: shortDeadline)
            #expect(reply.name == "edge-1")

            var stats = Mbox_V1_AgentStats()
            stats.name = "edge-2"
            #expect(await Self.rpcError { _ = try await service.reportStats(stats, options: shortDeadline) }?.code == .permissionDenied)

            let alertsAsOther = await Self.rpcError {
                try await service.streamAlerts(options: shortDeadline, requestProducer: { writer in
                    var batch = Mbox_V1_AlertBatch()
                    batch.agent = "edge-2"
                    batch.alerts = [syntheticAlert(1)]
                    try await writer.write(batch)
                }, onResponse: { response in
                    for try await _ in response.messages {}
                })
            }
            #expect(alertsAsOther?.code == .permissionDenied)
        }
        #expect(try await running.controller.store.alertCount() == 0)
        #expect(try await running.controller.agents().map(\.name) == ["edge-1"])
        await running.stop()
    }

    @Test("Invalid YAML, chains and rules are refused with file and line; the previous config stays")
    func invalidPolicies() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let running = try await RunningController(in: scratch, pki: pki)
        try await withClient(running.endpoint, tls: pki.files("alice")) { client in
            let service = Mbox_V1_OperatorService.Client(wrapping: client)
            var request = Mbox_V1_ApplyChainRequest()
            request.spec = chainSpec(idsChain(), rules: ["rules.rules": sqlRule], file: "chains/ids-edge.yaml")
            let applied = try await service.applyChain(request, options: shortDeadline)
            #expect(applied.outcome == "created")

            request.spec = chainSpec(idsChain() + "\n  - name: [broken", rules: ["rules.rules": sqlRule], file: "chains/ids-edge.yaml")
            let yaml = await Self.rpcError { _ = try await service.applyChain(request, options: shortDeadline) }
            #expect(yaml?.code == .invalidArgument)
            #expect(yaml?.message.contains("chains/ids-edge.yaml:") == true && yaml?.message.contains("not valid YAML") == true)

            request.spec = chainSpec(idsChain().replacingOccurrences(of: "type: DPI", with: "type: DPX"),
                                     rules: ["rules.rules": sqlRule], file: "chains/ids-edge.yaml")
            let unknown = await Self.rpcError { _ = try await service.applyChain(request, options: shortDeadline) }
            #expect(unknown?.code == .invalidArgument)
            #expect(unknown?.message.contains("chains/ids-edge.yaml:5:5: unknown NF type 'DPX'") == true, "\(unknown?.message ?? "")")

            let badRule = "alert tcp any any -> any 80 (msg:\"x\"; content:\"a\"; frobnicate; sid:9;)"
            request.spec = chainSpec(idsChain(), rules: ["rules.rules": sqlRule + "\n" + badRule], file: "chains/ids-edge.yaml")
            let rule = await Self.rpcError { _ = try await service.applyChain(request, options: shortDeadline) }
            #expect(rule?.code == .invalidArgument)
            #expect(rule?.message.contains("rules.rules:2: sid 9:") == true, "\(rule?.message ?? "")")

            request.spec = chainSpec(idsChain(), rules: [:], file: "chains/ids-edge.yaml")
            let missing = await Self.rpcError { _ = try await service.applyChain(request, options: shortDeadline) }
            #expect(missing?.message.contains("no rule file named 'rules.rules'") == true, "\(missing?.message ?? "")")

            let chains = try await service.listChains(.init(), options: shortDeadline).chains
            #expect(chains.count == 1 && chains[0].revision == applied.revision)
            #expect(chains[0].spec.ruleSets.first?.bytes == UInt64(sqlRule.utf8.count))
            var named = Mbox_V1_ListChainsRequest()
            named.name = chains[0].spec.name
            named.withRules = true
            let whole = try await service.listChains(named, options: shortDeadline).chains
            #expect(whole.first?.spec.ruleSets.first?.text == sqlRule)
        }
        await running.stop()
    }
}

import GRPCCore
import MBoxControlPlane
import MBoxProto

/// `mbox.v1.OperatorService`: every call needs an operator certificate.
public struct OperatorServiceHandler: Mbox_V1_OperatorService.SimpleServiceProtocol {
    let controller: Controller

    public init(_ controller: Controller) { self.controller = controller }

    public func applyChain(request: Mbox_V1_ApplyChainRequest, context: ServerContext) async throws -> Mbox_V1_ApplyChainResponse {
        let caller = try OperatorCall.of(context)
        return try await controller.apply(request.spec, by: caller) { context.cancellation.isCancelled }
    }

    public func deleteChain(request: Mbox_V1_DeleteChainRequest, context: ServerContext) async throws -> Mbox_V1_DeleteChainResponse {
        let caller = try OperatorCall.of(context)
        return try await controller.delete(chain: request.name, by: caller)
    }

    public func listChains(request: Mbox_V1_ListChainsRequest, context: ServerContext) async throws -> Mbox_V1_ListChainsResponse {
        _ = try PeerIdentity.require(.operator, context)
        var response = Mbox_V1_ListChainsResponse()
        response.chains = try await controller.chains(request)
        return response
    }

    public func listAgents(request: Mbox_V1_ListAgentsRequest, context: ServerContext) async throws -> Mbox_V1_ListAgentsResponse {
        _ = try PeerIdentity.require(.operator, context)
        var response = Mbox_V1_ListAgentsResponse()
        response.agents = try await controller.agents()
        return response
    }

    public func queryAlerts(request: Mbox_V1_AlertQuery, context: ServerContext) async throws -> Mbox_V1_QueryAlertsResponse {
        _ = try PeerIdentity.require(.operator, context)
        do {
            return try await controller.alertPage(request)
        } catch let error as StoreError {
            throw RPCError(code: .invalidArgument, message: error.description)
        }
    }

    public func followAlerts(request: Mbox_V1_AlertQuery, response: RPCWriter<Mbox_V1_Alert>, context: ServerContext) async throws {
        _ = try PeerIdentity.require(.operator, context)
        // Subscribe first, then read the store, so nothing stored in between is missed;
        // what both deliver is sent once.
        let (live, id) = await controller.follow(request)
        let controller = self.controller
        do {
            try await withRPCCancellationHandler {
                var sent = Set<String>()
                for alert in try await controller.alerts(request) {
                    sent.insert("\(alert.agent)/\(alert.spoolID)/\(alert.sequence)")
                    try await response.write(alert)
                }
                for await alert in live where !sent.contains("\(alert.agent)/\(alert.spoolID)/\(alert.sequence)") {
                    try await response.write(alert)
                }
            } onCancelRPC: {
                Task { await controller.unfollow(id) }
            }
        } catch {
            await controller.unfollow(id)
            throw error
        }
        await controller.unfollow(id)
    }

    public func listAudit(request: Mbox_V1_AuditQuery, context: ServerContext) async throws -> Mbox_V1_AuditResponse {
        _ = try PeerIdentity.require(.operator, context)
        var response = Mbox_V1_AuditResponse()
        response.entries = try await controller.auditEntries(limit: request.limit == 0 ? 100 : Int(min(request.limit, 10_000)))
        return response
    }

    public func listChainRevisions(request: Mbox_V1_ChainRevisionsRequest, context: ServerContext) async throws
        -> Mbox_V1_ChainRevisionsResponse {
        _ = try PeerIdentity.require(.operator, context)
        var response = Mbox_V1_ChainRevisionsResponse()
        response.revisions = try await controller.revisions(chain: request.name, limit: request.limit == 0 ? 100 : Int(request.limit))
        return response
    }

    public func issueConsoleToken(request: Mbox_V1_ConsoleTokenRequest, context: ServerContext) async throws
        -> Mbox_V1_ConsoleTokenResponse {
        try await controller.issueConsoleToken(for: try OperatorCall.of(context), ttlSeconds: request.ttlSeconds)
    }

    public func listAgentSamples(request: Mbox_V1_AgentSamplesRequest, context: ServerContext) async throws
        -> Mbox_V1_AgentSamplesResponse {
        _ = try PeerIdentity.require(.operator, context)
        var response = Mbox_V1_AgentSamplesResponse()
        response.samples = try await controller.samples(agent: request.agent, sinceMs: request.sinceUnixMs)
        return response
    }
}

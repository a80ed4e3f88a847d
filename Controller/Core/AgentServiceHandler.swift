import GRPCCore
import MBoxControlPlane
import MBoxProto

/// `mbox.v1.AgentService`: every call is checked against the caller's agent certificate.
public struct AgentServiceHandler: Mbox_V1_AgentService.SimpleServiceProtocol {
    let controller: Controller

    public init(_ controller: Controller) { self.controller = controller }

    public func register(request: Mbox_V1_RegisterRequest, context: ServerContext) async throws -> Mbox_V1_RegisterResponse {
        let agent = try PeerIdentity.requireAgent(named: request.name, context)
        return try await controller.register(agent, request)
    }

    public func watchConfig(request: Mbox_V1_WatchConfigRequest, response: RPCWriter<Mbox_V1_AgentConfig>,
                            context: ServerContext) async throws {
        let agent = try PeerIdentity.requireAgent(named: request.name, context)
        let (updates, id) = try await controller.watch(agent.name)
        let controller = self.controller
        do {
            // The stream of updates ends when the agent goes away (the RPC is cancelled).
            try await withRPCCancellationHandler {
                for await update in updates { try await response.write(update) }
            } onCancelRPC: {
                Task { await controller.unwatch(agent.name, id) }
            }
        } catch {
            await controller.unwatch(agent.name, id)
            throw error
        }
        await controller.unwatch(agent.name, id)
    }

    public func reportApplied(request: Mbox_V1_ReportAppliedRequest, context: ServerContext) async throws -> Mbox_V1_ReportAppliedResponse {
        let agent = try PeerIdentity.requireAgent(named: request.name, context)
        try await controller.applied(agent.name, request)
        return .init()
    }

    public func streamAlerts(request: RPCAsyncSequence<Mbox_V1_AlertBatch, any Error>, response: RPCWriter<Mbox_V1_AlertAck>,
                             context: ServerContext) async throws {
        let agent = try PeerIdentity.require(.agent, context)
        for try await batch in request {
            guard batch.agent.isEmpty || batch.agent == agent.name else {
                throw RPCError(code: .permissionDenied, message: "\(agent) may not report alerts as agent '\(batch.agent)'")
            }
            try await response.write(controller.ingest(agent.name, batch.alerts))
        }
    }

    public func reportStats(request: Mbox_V1_AgentStats, context: ServerContext) async throws -> Mbox_V1_ReportStatsResponse {
        let agent = try PeerIdentity.requireAgent(named: request.name, context)
        try await controller.stats(agent.name, request)
        return .init()
    }
}

import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import MBoxControlPlane

/// The controller's gRPC server: both services over HTTP/2 with mutual TLS, behind a
/// `ConnectionGate` (handshake timeout, caps on strangers and on connections in all).
public struct ControllerServer: Sendable {
    public let controller: Controller
    public let gate: ConnectionGate
    let server: GRPCServer<HTTP2ServerTransport.Posix>

    public static let maximumMessageBytes = ControlLimits.maximumMessageBytes

    public init(controller: Controller, listen endpoint: ControlEndpoint, tls: TLSFiles,
                limits: ConnectionLimits = ConnectionLimits()) throws {
        try tls.check()
        self.controller = controller
        let gate = ConnectionGate(limits: limits)
        self.gate = gate
        let transport = HTTP2ServerTransport.Posix(
            address: endpoint.socketAddress, transportSecurity: tls.serverSecurity(),
            config: .defaults { config in
                config.rpc.maxRequestPayloadSize = Self.maximumMessageBytes
                // Agents hold streams open for hours; pings find the dead ones (and
                // `get agents` shows them disconnected) within ~15 s.
                config.connection.keepalive = .init(time: .seconds(10), timeout: .seconds(5),
                                                    clientBehavior: .init(minPingIntervalWithoutCalls: .seconds(5), allowWithoutCalls: true))
                config.connection.maxGraceTime = .seconds(2)
                config.connection.maxIdleTime = limits.idleTimeout
                config.http2.maxConcurrentStreams = limits.streamsPerConnection
                config.channelDebuggingCallbacks.onAcceptTCPConnection = { gate.admit($0) }
            })
        server = GRPCServer(transport: transport, services: [AgentServiceHandler(controller), OperatorServiceHandler(controller)])
    }

    /// Serves until `stop()` (or the task is cancelled).
    public func serve() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            group.addTask { await Self.returnMemory(after: gate) }
            group.addTask { await controller.pruneHistoryInBackground() }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Gives freed heap back to the system once a burst of connections has gone (glibc
    /// keeps it otherwise: thousands of handshakes' buffers stayed resident).
    static func returnMemory(after gate: ConnectionGate) async {
        var highest = 0
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(2))
            let open = gate.counters.open
            highest = max(highest, open)
            if highest - open >= 256 {
                Heap.returnFreePages()
                highest = open
            }
        }
    }

    /// The port actually bound (useful with port 0).
    public func listeningPort() async throws -> Int {
        let address = try await server.transport.listeningAddress
        if let v4 = address.ipv4 { return v4.port }
        if let v6 = address.ipv6 { return v6.port }
        throw PKIError("the controller listens on \(address), not an IP port")
    }

    /// Stops accepting calls and ends the long-lived streams (config watches, alert
    /// follows), so connections close within the grace time.
    public func stop() async {
        server.beginGracefulShutdown()
        await controller.closeStreams()
    }
}

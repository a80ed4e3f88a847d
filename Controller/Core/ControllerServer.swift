import GRPCCore
import GRPCNIOTransportHTTP2
import MBoxControl

/// The controller's gRPC server: both services over HTTP/2 with mutual TLS.
public struct ControllerServer: Sendable {
    public let controller: Controller
    let server: GRPCServer<HTTP2ServerTransport.Posix>

    public static let maximumMessageBytes = ControlLimits.maximumMessageBytes

    public init(controller: Controller, listen endpoint: ControlEndpoint, tls: TLSFiles) throws {
        try tls.check()
        self.controller = controller
        let transport = HTTP2ServerTransport.Posix(
            address: endpoint.socketAddress, transportSecurity: tls.serverSecurity(),
            config: .defaults { config in
                config.rpc.maxRequestPayloadSize = Self.maximumMessageBytes
                // Agents hold streams open for hours; pings find the dead ones (and
                // `get agents` shows them disconnected) within ~15 s.
                config.connection.keepalive = .init(time: .seconds(10), timeout: .seconds(5),
                                                    clientBehavior: .init(minPingIntervalWithoutCalls: .seconds(5), allowWithoutCalls: true))
                config.connection.maxGraceTime = .seconds(2)
            })
        server = GRPCServer(transport: transport, services: [AgentServiceHandler(controller), OperatorServiceHandler(controller)])
    }

    /// Serves until `stop()` (or the task is cancelled).
    public func serve() async throws { try await server.serve() }

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

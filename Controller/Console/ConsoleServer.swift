import Logging
import MBoxControlPlane
import MBoxControllerCore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The web console: HTTPS (the controller's certificate) serving `ConsoleRouter`'s pages,
/// one request at a time per connection. Bounded like the gRPC side: connections at once,
/// time to send a request (TLS included) and to stay idle between requests.
public final class ConsoleServer: Sendable {
    public struct Limits: Sendable {
        /// Connections at once; more are closed as they arrive (and counted).
        public var connections = 256
        /// Time from accepting a connection (or ending a response) to a request's head.
        public var requestTimeout: TimeAmount = .seconds(10)
        public init() {}
    }

    private let server: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    private let router: ConsoleRouter
    private let limits: Limits
    private let open = NIOLockedValueBox(0)
    private let log = MBoxLogging.logger("mbox.console")

    /// Binds `endpoint` (port 0 picks one) with the certificate and key in `tls`.
    public init(controller: Controller, listen endpoint: ControlEndpoint, tls: TLSFiles, limits: Limits = Limits()) async throws {
        try tls.check()
        let certificates = try NIOSSLCertificate.fromPEMFile(tls.certificate).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.key, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: certificates, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        let context = try NIOSSLContext(configuration: configuration)
        let timeout = limits.requestTimeout
        self.limits = limits
        router = ConsoleRouter(controller: controller)
        server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelOption(.backlog, value: 256)
            .bind(host: endpoint.host, port: endpoint.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(NIOSSLServerHandler(context: context))
                    try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                    try pipeline.addHandler(RequestDeadline(timeout: timeout))
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(wrappingChannelSynchronously: channel)
                }
            }
    }

    public var port: Int { server.channel.localAddress?.port ?? 0 }

    /// Serves until the task is cancelled or `close()`.
    public func serve() async throws {
        try await withThrowingDiscardingTaskGroup { group in
            try await server.executeThenClose { connections in
                for try await connection in connections {
                    let admitted = open.withLockedValue { count -> Bool in
                        guard count < limits.connections else { return false }
                        count += 1
                        return true
                    }
                    guard admitted else {
                        log.warning("console: \(limits.connections) connections open; one more closed")
                        // Closed through the async channel, which must see its writer finished.
                        group.addTask { try? await connection.executeThenClose { _, _ in } }
                        continue
                    }
                    group.addTask {
                        await self.handle(connection)
                        self.open.withLockedValue { $0 -= 1 }
                    }
                }
            }
        }
    }

    public func close() async { try? await server.channel.close() }

    /// Requests on one connection, each answered before the next is read.
    private func handle(_ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>) async {
        do {
            try await connection.executeThenClose { inbound, outbound in
                var head: HTTPRequestHead?
                var refused = false
                for try await part in inbound {
                    switch part {
                    case let .head(request):
                        head = request
                        refused = false
                    case .body:
                        // Pages are read-only: no request carries a body.
                        refused = true
                    case .end:
                        guard let request = head else { continue }
                        head = nil
                        let response = refused
                            ? ConsoleResponse.problem(.payloadTooLarge, "No bodies", "The console takes no request bodies.")
                            : await router.respond(to: request)
                        let keepAlive = try await write(response, for: request, to: outbound)
                        if !keepAlive { return }
                    }
                }
            }
        } catch {
            log.debug("console connection ended: \(error)")
        }
    }

    /// Writes `response`; whether the connection may carry another request.
    private func write(_ response: ConsoleResponse, for request: HTTPRequestHead,
                       to outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>) async throws -> Bool {
        var head = HTTPResponseHead(version: request.version, status: response.status)
        for (name, value) in response.headers { head.headers.add(name: name, value: value) }
        head.headers.add(name: "Content-Security-Policy",
                         value: "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'")
        head.headers.add(name: "X-Content-Type-Options", value: "nosniff")
        head.headers.add(name: "Referrer-Policy", value: "no-referrer")
        head.headers.add(name: "Cache-Control", value: "no-store")
        switch response.body {
        case let .text(text):
            let body = ByteBuffer(string: request.method == .HEAD ? "" : text)
            head.headers.add(name: "Content-Length", value: String(text.utf8.count))
            if !request.isKeepAlive { head.headers.add(name: "Connection", value: "close") }
            try await outbound.write(contentsOf: [.head(head), .body(.byteBuffer(body)), .end(nil)])
            return request.isKeepAlive
        case let .events(stream):
            head.headers.add(name: "Connection", value: "close")
            try await outbound.write(.head(head))
            // Each write waits for the socket: a reader that stops reading holds this loop,
            // and the stream's own bound (not NIO's buffers) decides what is dropped.
            for await event in stream { try await outbound.write(.body(.byteBuffer(ByteBuffer(string: event)))) }
            try await outbound.write(.end(nil))
            return false
        }
    }
}

/// Closes a connection that sends no request head within `timeout` of opening (TLS
/// included) or of its last response ending; a streaming response keeps it open.
final class RequestDeadline: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    private let timeout: TimeAmount
    private var deadline: Scheduled<Void>?

    init(timeout: TimeAmount) { self.timeout = timeout }

    func handlerAdded(context: ChannelHandlerContext) { arm(context) }
    func handlerRemoved(context: ChannelHandlerContext) { deadline?.cancel() }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) {
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { arm(context) }
        context.write(data, promise: promise)
    }

    private func arm(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}

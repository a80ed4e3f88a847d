import NIOCore
import NIOHTTP1
import NIOPosix

/// Serves `GET /metrics` in Prometheus' text format over plain HTTP/1.1 (bind it to
/// loopback or a management network: it carries no authentication).
public final class MetricsServer: Sendable {
    private let channel: any Channel

    /// Binds `host:port` (port 0 picks one) and serves `render()` on each scrape.
    public init(host: String, port: Int, render: @escaping @Sendable () async -> String) async throws {
        channel = try await Self.bootstrap(render).bind(host: host, port: port).get()
    }

    /// The same, for a caller outside Swift concurrency (a command's synchronous `run`):
    /// returns once the socket is bound.
    public init(bindingNow host: String, port: Int, render: @escaping @Sendable () -> String) throws {
        channel = try Self.bootstrap { render() }.bind(host: host, port: port).wait()
    }

    private static func bootstrap(_ render: @escaping @Sendable () async -> String) -> ServerBootstrap {
        ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(MetricsHandler(render: render))
                }
            }
    }

    public var port: Int { channel.localAddress?.port ?? 0 }

    public func close() async { try? await channel.close() }

    /// `close()` for a caller outside Swift concurrency.
    public func closeNow() { try? channel.close().wait() }
}

/// One request at a time per connection: `/metrics` gets the text, anything else 404.
final class MetricsHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let render: @Sendable () async -> String

    init(render: @escaping @Sendable () async -> String) { self.render = render }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case let .head(request) = unwrapInboundIn(data) else { return }
        let found = request.method == .GET && request.uri.split(separator: "?").first == "/metrics"
        let keepAlive = request.isKeepAlive
        let loop = context.eventLoop
        let bound = NIOLoopBound((context, self), eventLoop: loop)
        let render = self.render
        let promise = loop.makePromise(of: String.self)
        promise.completeWithTask { found ? await render() : "not found: GET /metrics\n" }
        promise.futureResult.whenSuccess { body in
            let (context, handler) = bound.value
            var head = HTTPResponseHead(version: request.version, status: found ? .ok : .notFound)
            head.headers.add(name: "Content-Type", value: found ? "text/plain; version=0.0.4" : "text/plain")
            head.headers.add(name: "Content-Length", value: String(body.utf8.count))
            if !keepAlive { head.headers.add(name: "Connection", value: "close") }
            context.write(handler.wrapOutboundOut(.head(head)), promise: nil)
            context.write(handler.wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(handler.wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { bound.value.0.close(promise: nil) }
            }
        }
    }
}

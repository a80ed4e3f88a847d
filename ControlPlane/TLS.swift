import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// The three PEM files every control-plane party holds: its certificate, its key, and the
/// CA that issued the others'.
public struct TLSFiles: Sendable {
    public var certificate: String
    public var key: String
    public var ca: String

    public init(certificate: String, key: String, ca: String) {
        self.certificate = certificate
        self.key = key
        self.ca = ca
    }

    /// The files of `name` in a `mboxctl pki` directory.
    public init(directory: String, name: String) {
        self.init(certificate: "\(directory)/\(name).pem", key: "\(directory)/\(name)-key.pem", ca: "\(directory)/\(DevelopmentCA.caFile)")
    }

    /// Fails with the missing file's name before any handshake does it obscurely.
    public func check() throws {
        for (what, path) in [("certificate", certificate), ("key", key), ("CA certificate", ca)]
        where !FileManager.default.isReadableFile(atPath: path) {
            throw PKIError("cannot read the \(what) \(path)")
        }
    }

    /// Server side: present our certificate, require a client certificate from our CA.
    public func serverSecurity() -> HTTP2ServerTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: [.file(path: certificate, format: .pem)], privateKey: .file(path: key, format: .pem)) {
            $0.trustRoots = .certificates([.file(path: ca, format: .pem)])
            $0.clientCertificateVerification = .noHostnameVerification
        }
    }

    /// Client side: present our certificate, accept only a server certificate from our CA
    /// whose names include the host we dialled.
    public func clientSecurity() -> HTTP2ClientTransport.Posix.TransportSecurity {
        .mTLS(certificateChain: [.file(path: certificate, format: .pem)], privateKey: .file(path: key, format: .pem)) {
            $0.trustRoots = .certificates([.file(path: ca, format: .pem)])
            $0.serverCertificateVerification = .fullVerification
        }
    }
}

/// `HOST:PORT` (IPv6 as `[::1]:PORT`).
public struct ControlEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws {
        let host: Substring
        let port: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            port = text[close...].dropFirst(2)
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        } else {
            throw PKIError("'\(text)' is not HOST:PORT")
        }
        guard !host.isEmpty, let number = Int(port), (0...65535).contains(number) else {
            throw PKIError("'\(text)' is not HOST:PORT")
        }
        self.init(host: String(host), port: number)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// `HOST:PORT[,HOST:PORT...]`: controller replicas, tried in turn.
    public static func list(parsing text: String) throws -> [ControlEndpoint] {
        let endpoints = try text.split(separator: ",").map { try ControlEndpoint(parsing: $0.trimmingCharacters(in: .whitespaces)) }
        guard !endpoints.isEmpty else { throw PKIError("'\(text)' names no HOST:PORT") }
        return endpoints
    }

    var isIPv6: Bool { host.contains(":") }

    public var socketAddress: GRPCNIOTransportCore.SocketAddress {
        isIPv6 ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
    }

    /// Where a client dials: literal addresses as they are, names through DNS.
    public var target: any ResolvableTarget {
        if isIPv6 { return .ipv6(address: host, port: port) }
        if host.split(separator: ".").count == 4, host.allSatisfy({ $0.isNumber || $0 == "." }) {
            return .ipv4(address: host, port: port)
        }
        return .dns(host: host, port: port)
    }
}

extension GRPCClient where Transport == HTTP2ClientTransport.Posix {
    /// A client of the controller at `endpoint`, authenticated by `tls`.
    public static func controller(_ endpoint: ControlEndpoint, tls: TLSFiles) throws -> GRPCClient<HTTP2ClientTransport.Posix> {
        try tls.check()
        // One message limit for every party, both ways (the transport reads a response's
        // limit from the request setting, so both are set).
        let limits = MethodConfig(names: [MethodConfig.Name(service: "")],
                                  maxRequestMessageBytes: ControlLimits.maximumMessageBytes,
                                  maxResponseMessageBytes: ControlLimits.maximumMessageBytes)
        let transport = try HTTP2ClientTransport.Posix(
            target: endpoint.target, transportSecurity: tls.clientSecurity(),
            config: .defaults { config in
                config.backoff = .init(initial: .milliseconds(100), max: .seconds(5), multiplier: 1.6, jitter: 0.2)
                config.connection.maxIdleTime = nil
                // A controller gone without a word (cable cut) is noticed within ~15 s.
                config.connection.keepalive = .init(time: .seconds(10), timeout: .seconds(5), allowWithoutCalls: true)
            }, serviceConfig: ServiceConfig(methodConfig: [limits]))
        return GRPCClient(transport: transport)
    }
}

import GRPCCore
import GRPCNIOTransportHTTP2
import X509

/// Who is calling, from the client certificate the TLS handshake verified: the CN is
/// the name, the OU the role.
public struct PeerIdentity: Sendable, Equatable, CustomStringConvertible {
    public var role: Role
    public var name: String

    public init(role: Role, name: String) {
        self.role = role
        self.name = name
    }

    public init(certificate: Certificate) throws {
        var commonName: String?
        var unit: String?
        for relative in certificate.subject {
            for attribute in relative {
                if attribute.type == .RDNAttributeType.commonName { commonName = String(attribute.value) }
                if attribute.type == .RDNAttributeType.organizationalUnitName { unit = String(attribute.value) }
            }
        }
        guard let commonName, !commonName.isEmpty else {
            throw RPCError(code: .permissionDenied, message: "the client certificate has no common name")
        }
        guard let role = unit.flatMap(Role.init(rawValue:)) else {
            throw RPCError(code: .permissionDenied,
                           message: "the client certificate of '\(commonName)' names no role (OU controller, agent or operator)")
        }
        self.init(role: role, name: commonName)
    }

    public var description: String { "\(role.rawValue) '\(name)'" }

    /// The caller of an RPC; `unauthenticated` without a client certificate.
    public static func of(_ context: ServerContext) throws -> PeerIdentity {
        guard let posix = context.transportSpecific as? HTTP2ServerTransport.Posix.Context,
              let certificate = posix.peerCertificate else {
            throw RPCError(code: .unauthenticated, message: "a client certificate is required")
        }
        return try PeerIdentity(certificate: certificate)
    }

    /// The caller, who must hold `role`; `permissionDenied` otherwise.
    public static func require(_ role: Role, _ context: ServerContext) throws -> PeerIdentity {
        let identity = try of(context)
        guard identity.role == role else {
            throw RPCError(code: .permissionDenied, message: "\(identity) may not call \(context.descriptor.fullyQualifiedMethod): it needs a \(role.rawValue) certificate")
        }
        return identity
    }

    /// The caller, who must be the agent `claimed` (an agent speaks only for itself).
    public static func requireAgent(named claimed: String, _ context: ServerContext) throws -> PeerIdentity {
        let identity = try require(.agent, context)
        guard claimed.isEmpty || claimed == identity.name else {
            throw RPCError(code: .permissionDenied, message: "\(identity) may not speak for agent '\(claimed)'")
        }
        return identity
    }
}

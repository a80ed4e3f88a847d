import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import MBoxControlPlane
import MBoxProto
import SwiftASN1
import X509

/// Who made an operator call: the certificate's name and fingerprint, and the peer
/// address — what the audit log records beside each change.
public struct OperatorCall: Sendable, Equatable {
    public var name: String
    /// SHA-256 of the certificate's DER, in hex.
    public var certificateSHA256: String
    public var peer: String

    public init(name: String, certificateSHA256: String = "", peer: String = "") {
        self.name = name
        self.certificateSHA256 = certificateSHA256
        self.peer = peer
    }

    /// The operator behind `context`; `permissionDenied` for any other role.
    public static func of(_ context: ServerContext) throws -> OperatorCall {
        let identity = try PeerIdentity.require(.operator, context)
        var fingerprint = ""
        if let posix = context.transportSpecific as? HTTP2ServerTransport.Posix.Context, let certificate = posix.peerCertificate {
            var serializer = DER.Serializer()
            if (try? serializer.serialize(certificate)) != nil {
                fingerprint = sha256Hex(serializer.serializedBytes)
            }
        }
        return OperatorCall(name: identity.name, certificateSHA256: fingerprint, peer: context.remotePeer)
    }

    func entry(action: String, chain: String, revision: UInt64, outcome: String) -> Mbox_V1_AuditEntry {
        var entry = Mbox_V1_AuditEntry()
        entry.timeUnixMs = Int64(Date().timeIntervalSince1970 * 1000)
        entry.operator = name
        entry.certificateSha256 = certificateSHA256
        entry.peer = peer
        entry.action = action
        entry.chain = chain
        entry.revision = revision
        entry.outcome = outcome
        return entry
    }

    /// What a change made a chain, recorded with this caller.
    func revision(_ number: UInt64, action: String, spec: Mbox_V1_ChainSpec?) -> Mbox_V1_ChainRevision {
        var revision = Mbox_V1_ChainRevision()
        revision.revision = number
        revision.timeUnixMs = Int64(Date().timeIntervalSince1970 * 1000)
        revision.action = action
        revision.operator = name
        revision.certificateSha256 = certificateSHA256
        if let spec { revision.spec = spec }
        return revision
    }
}

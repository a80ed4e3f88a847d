import Crypto
import Foundation
import SwiftASN1
import X509

/// What a certificate lets its holder do; written in the certificate's OU.
public enum Role: String, Sendable, CaseIterable {
    case controller, agent, `operator`
}

/// A development certificate authority kept in a directory: `ca.pem` and `ca-key.pem`,
/// and for each issued certificate `NAME.pem` and `NAME-key.pem`. Keys are P-256; the
/// subject's CN is the holder's name, its OU the role. Made in-process (no openssl).
public struct DevelopmentCA {
    public let directory: URL
    let certificate: Certificate
    let key: Certificate.PrivateKey

    public static let caFile = "ca.pem"
    public static let caKeyFile = "ca-key.pem"

    /// Creates a new CA in `directory`; refuses to overwrite an existing one.
    public static func create(in directory: URL, name: String = "Microboxes development CA", validDays: Int = 3650) throws -> DevelopmentCA {
        let certificatePath = directory.appendingPathComponent(caFile).path
        guard !FileManager.default.fileExists(atPath: certificatePath) else {
            throw PKIError("\(certificatePath) exists; remove the directory to start a new CA")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let subject = try DistinguishedName {
            OrganizationName("Microboxes")
            CommonName(name)
        }
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Double(validDays) * 86400),
            issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            },
            issuerPrivateKey: key)
        let ca = DevelopmentCA(directory: directory, certificate: certificate, key: key)
        try ca.write(certificate, key: key, name: "ca")
        return ca
    }

    /// Opens the CA in `directory`.
    public static func open(_ directory: URL) throws -> DevelopmentCA {
        do {
            let certificate = try Certificate(pemEncoded: String(contentsOf: directory.appendingPathComponent(caFile), encoding: .utf8))
            let key = try Certificate.PrivateKey(pemEncoded: String(contentsOf: directory.appendingPathComponent(caKeyFile), encoding: .utf8))
            return DevelopmentCA(directory: directory, certificate: certificate, key: key)
        } catch {
            throw PKIError("cannot open the CA in \(directory.path) (run `mboxctl pki init` first): \(error)")
        }
    }

    /// Issues a certificate for `name` in `role`, writes `NAME.pem` and `NAME-key.pem`
    /// and returns their paths. Controllers get `hosts` (DNS names or IP addresses) as
    /// subject alternative names; every certificate serves as client and server.
    @discardableResult
    public func issue(_ role: Role, name: String, hosts: [String] = ["localhost", "127.0.0.1", "::1"],
                      validDays: Int = 825) throws -> (certificate: String, key: String) {
        guard Self.isValidName(name) else {
            throw PKIError("'\(name)' is not a valid name: use letters, digits, '.', '-' and '_' (at most 64)")
        }
        let key = Certificate.PrivateKey(P256.Signing.PrivateKey())
        let subject = try DistinguishedName {
            OrganizationName("Microboxes")
            OrganizationalUnitName(role.rawValue)
            CommonName(name)
        }
        let names: [GeneralName] = role == .controller ? hosts.map(Self.generalName) : []
        let now = Date()
        let certificate = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: key.publicKey,
            notValidBefore: now.addingTimeInterval(-300), notValidAfter: now.addingTimeInterval(Double(validDays) * 86400),
            issuer: self.certificate.subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectKeyIdentifier(hash: key.publicKey)
                if !names.isEmpty { SubjectAlternativeNames(names) }
            },
            issuerPrivateKey: self.key)
        return try write(certificate, key: key, name: name)
    }

    @discardableResult
    private func write(_ certificate: Certificate, key: Certificate.PrivateKey, name: String) throws -> (certificate: String, key: String) {
        let certificatePath = directory.appendingPathComponent("\(name).pem").path
        let keyPath = directory.appendingPathComponent("\(name)-key.pem").path
        try certificate.serializeAsPEM().pemString.write(toFile: certificatePath, atomically: true, encoding: .utf8)
        try key.serializeAsPEM().pemString.write(toFile: keyPath, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: keyPath)
        return (certificatePath, keyPath)
    }

    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 64 && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }
    }

    static func generalName(_ host: String) -> GeneralName {
        if let v4 = IPv4Address(host) { return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(v4.bytes))) }
        if let v6 = IPv6Address(host) { return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(v6.bytes))) }
        return .dnsName(host)
    }
}

public struct PKIError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension SubjectKeyIdentifier {
    init(hash key: Certificate.PublicKey) {
        self.init(keyIdentifier: ArraySlice(Insecure.SHA1.hash(data: key.subjectPublicKeyInfoBytes)))
    }
}

extension Certificate.PublicKey {
    var subjectPublicKeyInfoBytes: [UInt8] {
        var serializer = DER.Serializer()
        try? serializer.serialize(self)
        return serializer.serializedBytes
    }
}

/// Textual IP addresses as bytes (for subject alternative names).
struct IPv4Address {
    let bytes: [UInt8]
    init?(_ text: String) {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        bytes = withUnsafeBytes(of: &address) { Array($0) }
    }
}

struct IPv6Address {
    let bytes: [UInt8]
    init?(_ text: String) {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        bytes = withUnsafeBytes(of: &address) { Array($0) }
    }
}

import ArgumentParser

/// `--cert`, `--key` and `--ca`: certificate files given one by one, each in place of the
/// file of its kind in a `mboxctl pki` directory. Shared by the agent, the controller and
/// `mboxctl`, which each add their `--pki` and the name to look up in it.
public struct CertificateOptions: ParsableArguments {
    @Option(help: "Certificate (PEM); its common name is the identity the peer sees. Overrides --pki.")
    public var cert: String?

    @Option(help: "Private key of the certificate (PEM). Overrides --pki.")
    public var key: String?

    @Option(help: "CA certificate that issued the peers' certificates (PEM). Overrides --pki.")
    public var ca: String?

    public init() {}

    /// All three files are given (no `--pki` needed).
    public var complete: Bool { cert != nil && key != nil && ca != nil }

    /// `base` (the files in `--pki`) with each file given here in its place; nil when
    /// neither says where a file is.
    public func files(over base: TLSFiles?) -> TLSFiles? {
        guard let certificate = cert ?? base?.certificate, let key = key ?? base?.key, let ca = ca ?? base?.ca else { return nil }
        return TLSFiles(certificate: certificate, key: key, ca: ca)
    }
}

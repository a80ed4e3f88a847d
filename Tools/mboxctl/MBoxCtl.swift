import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import MBoxControlPlane
import MBoxProto

@main
struct MBoxCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mboxctl",
        abstract: "Operate a Microboxes fleet: chains, agents, alerts, certificates.",
        discussion: """
        The controller is MBOX_CONTROLLER or --controller (127.0.0.1:7443); credentials come from \
        a `mboxctl pki` directory (MBOX_PKI or --pki, ./pki by default) under the operator name \
        (MBOX_OPERATOR or --as, 'operator').
        """,
        version: MBoxVersion.description,
        subcommands: [Apply.self, Get.self, Delete.self, Alerts.self, History.self, Audit.self, ConsoleToken.self, PKI.self, Version.self])
}

/// `-o table|json`, as every listing takes it.
struct OutputFormat: ParsableArguments {
    @Option(name: .shortAndLong, help: "table or json.")
    var output = "table"

    func validate() throws {
        guard output == "table" || output == "json" else { throw ValidationError("-o is table or json") }
    }

    var json: Bool { output == "json" }
}

/// Where the controller is and who we are.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Controller address HOST:PORT, or replicas HOST:PORT,HOST:PORT,... (the next is tried when one cannot be reached).")
    var controller = ProcessInfo.processInfo.environment["MBOX_CONTROLLER"] ?? "127.0.0.1:7443"

    @Option(help: "Directory made by `mboxctl pki init`.")
    var pki = ProcessInfo.processInfo.environment["MBOX_PKI"] ?? "pki"

    @Option(name: .customLong("as"), help: "Operator certificate name in --pki.")
    var operatorName = ProcessInfo.processInfo.environment["MBOX_OPERATOR"] ?? "operator"

    @OptionGroup var certificates: CertificateOptions

    var tls: TLSFiles { certificates.files(over: TLSFiles(directory: pki, name: operatorName))! }

    /// Runs `body` with an operator client of the controller; RPC failures become one clear line.
    func withOperator<Result: Sendable>(
        _ body: @Sendable (Mbox_V1_OperatorService.Client<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        let endpoints: [ControlEndpoint]
        do { endpoints = try ControlEndpoint.list(parsing: controller) } catch { throw ValidationError("--controller: \(error)") }
        var failures: [String] = []
        for endpoint in endpoints {
            let client: GRPCClient<HTTP2ClientTransport.Posix>
            do { client = try GRPCClient.controller(endpoint, tls: tls) } catch { throw CtlError("\(error)") }
            do {
                return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
                    group.addTask { try await client.runConnections() }
                    defer { client.beginGracefulShutdown() }
                    return try await body(Mbox_V1_OperatorService.Client(wrapping: client))
                }
            } catch let error as RPCError {
                let explained = Self.explain(error, endpoint: endpoint, tls: tls)
                // Only an unreachable replica is worth trying the next for; an answer is an answer.
                guard error.code == .unavailable, explained.hasPrefix("cannot reach"), endpoint != endpoints.last else {
                    throw CtlError((failures + [explained]).joined(separator: "\n"))
                }
                failures.append(explained)
            }
        }
        throw CtlError(failures.joined(separator: "\n"))
    }

    /// An RPC failure in the operator's words. A refused certificate shows up as a broken
    /// connection (TLS 1.3 clients learn of it after their handshake), so the TLS alert in
    /// the error's causes is looked for and named.
    static func explain(_ error: RPCError, endpoint: ControlEndpoint, tls: TLSFiles) -> String {
        guard error.code == .unavailable || error.code == .deadlineExceeded else { return "\(error.code): \(error.message)" }
        let causes = describeCauses(error)
        if ProcessInfo.processInfo.environment["MBOXCTL_DEBUG"] != nil { FileHandle.standardError.write(Data((causes + "\n").utf8)) }
        if causes.contains("CERTIFICATE_VERIFY_FAILED") {
            return "the controller at \(endpoint) presented a certificate that \(tls.ca) does not vouch for (or not for that address)"
        }
        // An alert the controller sent during or right after the handshake: it refused us.
        if let alert = causes.firstMatch(of: /(?:TLSV1|SSLV3)_ALERT_([A-Z_]+)/) {
            return "the controller at \(endpoint) refused our certificate \(tls.certificate) (TLS alert \(alert.1.lowercased())): "
                + "is it issued by the controller's CA, and for an operator?"
        }
        return "cannot reach the controller at \(endpoint): \(error.message)"
    }

    static func describeCauses(_ error: any Error) -> String {
        var text = String(reflecting: error)
        var cause = (error as? RPCError)?.cause
        var depth = 0
        while let next = cause, depth < 8 {
            text += " | " + String(reflecting: next)
            cause = (next as? RPCError)?.cause ?? (next as? RuntimeError)?.cause
            depth += 1
        }
        return text
    }

    /// Call options with a deadline, so an unreachable controller fails instead of hanging.
    static var deadline: CallOptions { deadline(seconds: 10) }

    static func deadline(seconds: Int) -> CallOptions {
        var options = CallOptions.defaults
        options.timeout = .seconds(seconds)
        return options
    }
}

struct CtlError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print mboxctl's version and API.")

    func run() {
        print("mboxctl \(MBoxVersion.description)")
    }
}

import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import MBoxControl
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
        subcommands: [Apply.self, Get.self, Delete.self, Alerts.self, PKI.self, Version.self])
}

/// Where the controller is and who we are.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Controller address HOST:PORT.")
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
        let endpoint: ControlEndpoint
        do { endpoint = try ControlEndpoint(parsing: controller) } catch { throw ValidationError("--controller: \(error)") }
        let client: GRPCClient<HTTP2ClientTransport.Posix>
        do { client = try GRPCClient.controller(endpoint, tls: tls) } catch { throw CtlError("\(error)") }
        do {
            return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
                group.addTask { try await client.runConnections() }
                defer { client.beginGracefulShutdown() }
                return try await body(Mbox_V1_OperatorService.Client(wrapping: client))
            }
        } catch let error as RPCError {
            throw CtlError(error.code == .unavailable ? "cannot reach the controller at \(endpoint): \(error.message)"
                                                      : "\(error.code): \(error.message)")
        }
    }

    /// Call options with a deadline, so an unreachable controller fails instead of hanging.
    static var deadline: CallOptions {
        var options = CallOptions.defaults
        options.timeout = .seconds(10)
        return options
    }
}

struct CtlError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print mboxctl's version and API.")
    static let version = "0.5.0"

    func run() {
        print("mboxctl \(Self.version) (API mbox.v1)")
    }
}

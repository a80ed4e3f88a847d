import ArgumentParser
import Foundation
import MBoxControlPlane

struct PKI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pki", abstract: "Development certificates, made in-process.", subcommands: [Init.self, Issue.self])

    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a development CA (ca.pem, ca-key.pem).")

        @Option(help: "Directory for the CA and the certificates it issues.")
        var dir = ProcessInfo.processInfo.environment["MBOX_PKI"] ?? "pki"

        func run() throws {
            do {
                _ = try DevelopmentCA.create(in: URL(fileURLWithPath: dir))
            } catch { throw CtlError("\(error)") }
            print("created CA \(dir)/\(DevelopmentCA.caFile)")
        }
    }

    struct Issue: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a certificate: controller [NAME], agent NAME or operator NAME.")

        @Argument(help: "controller, agent or operator.")
        var role: String

        @Argument(help: "The holder's name (an agent's identity); 'controller' for a controller by default.")
        var name: String?

        @Option(help: "Directory of the CA.")
        var dir = ProcessInfo.processInfo.environment["MBOX_PKI"] ?? "pki"

        @Option(name: .customLong("host"), help: "Controller only: a DNS name or IP address clients dial (repeatable).")
        var hosts: [String] = []

        func validate() throws {
            guard let role = Role(rawValue: role) else { throw ValidationError("role is controller, agent or operator, not '\(self.role)'") }
            if role != .controller, name == nil { throw ValidationError("\(role.rawValue) certificates need a NAME") }
            if role != .controller, !hosts.isEmpty { throw ValidationError("--host is for controller certificates") }
        }

        func run() throws {
            let role = Role(rawValue: role)!
            let holder = name ?? "controller"
            do {
                let ca = try DevelopmentCA.open(URL(fileURLWithPath: dir))
                let files = hosts.isEmpty ? try ca.issue(role, name: holder) : try ca.issue(role, name: holder, hosts: hosts)
                print("issued \(role.rawValue) '\(holder)': \(files.certificate), \(files.key)")
            } catch { throw CtlError("\(error)") }
        }
    }
}

import Foundation
import Testing

/// The shipped systemd units and sample environment: valid to systemd, and their command
/// lines accepted by the programs.
@Suite("Packaging: systemd units and /etc/mbox", .serialized)
struct PackagingTests {
    static let packaging = packageRoot + "/packaging"

    /// `KEY=value` lines of an env file.
    static func environment(_ file: String) throws -> [String: String] {
        var values: [String: String] = [:]
        for line in try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        where !line.hasPrefix("#") && line.contains("=") {
            let parts = line.split(separator: "=", maxSplits: 1)
            values[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return values
    }

    /// The unit's ExecStart as systemd splits it: `$VAR` into words, `${VAR}` as one.
    static func execStart(_ unit: String, _ environment: [String: String]) throws -> [String] {
        let text = try String(contentsOfFile: unit, encoding: .utf8).replacingOccurrences(of: "\\\n", with: " ")
        let line = try #require(text.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
        var words: [String] = []
        for word in line.dropFirst("ExecStart=".count).split(separator: " ", omittingEmptySubsequences: true) {
            if word.hasPrefix("${"), word.hasSuffix("}") {
                words.append(try #require(environment[String(word.dropFirst(2).dropLast())], "\(word) is not in the env file"))
            } else if word.hasPrefix("$") {
                let value = try #require(environment[String(word.dropFirst())], "\(word) is not in the env file")
                words += value.split(separator: " ").map(String.init)
            } else {
                words.append(String(word))
            }
        }
        return words
    }

    @Test("systemd-analyze verify accepts both units (with the binaries where they are built)")
    func unitsVerify() throws {
        let analyze = "/usr/bin/systemd-analyze"
        try #require(FileManager.default.isExecutableFile(atPath: analyze), "systemd-analyze is not installed")
        let scratch = try ScratchDirectory()
        for (unit, program) in [("mbox-controller.service", "mbox-controller"), ("mbox-agent.service", "mbox-agent")] {
            let binary = try #require(builtCommand(program), "run `swift build` first")
            let text = try String(contentsOfFile: Self.packaging + "/systemd/" + unit, encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/\(program)", with: binary)
            try text.write(toFile: scratch.file(unit), atomically: true, encoding: .utf8)
            let result = try runCommand(analyze, ["verify", "--man=no", scratch.file(unit)])
            let complaints = (result.stdout + result.stderr).split(separator: "\n").filter {
                !$0.contains("EnvironmentFile") && !$0.contains("/etc/mbox")
            }
            #expect(result.status == 0 && complaints.isEmpty, "\(unit): \(result.stdout)\(result.stderr)")
        }
    }

    @Test("The controller starts from its unit's command line and the sample controller.env")
    func controllerCommandLine() async throws {
        let binary = try #require(builtCommand("mbox-controller"), "run `swift build` first")
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        var environment = try Self.environment(Self.packaging + "/etc/mbox/controller.env")
        environment["MBOX_LISTEN"] = "127.0.0.1:0"
        environment["MBOX_METRICS"] = "127.0.0.1:0"
        let words = try Self.execStart(Self.packaging + "/systemd/mbox-controller.service", environment).map {
            $0.replacingOccurrences(of: "/etc/mbox/pki", with: pki.directory)
                .replacingOccurrences(of: "/var/lib/mbox-controller", with: scratch.path)
        }
        #expect(words.first == "/usr/local/bin/mbox-controller")
        let controller = try Launched(binary, Array(words.dropFirst()), log: scratch.file("controller.log"))
        #expect(await controller.listeningPort() != nil, "\(controller.log)")
        #expect(controller.stop() == 0, "\(controller.log)")
        #expect(FileManager.default.fileExists(atPath: scratch.file("controller.db")))
    }

    @Test("Every flag of the agent's unit is one mbox-agent run takes")
    func agentCommandLine() throws {
        let binary = try #require(builtCommand("mbox-agent"), "run `swift build` first")
        let environment = try Self.environment(Self.packaging + "/etc/mbox/agent.env")
        let words = try Self.execStart(Self.packaging + "/systemd/mbox-agent.service", environment)
        #expect(words.contains("-l 0-1 --vdev=net_af_packet0,iface=eth1 --no-pci"), "--dpdk takes the EAL arguments as one word")
        let help = try runCommand(binary, ["run", "--help"]).stdout
        for flag in words where flag.hasPrefix("--") && !flag.contains("=") && !flag.contains(" ") {
            #expect(help.contains(flag), "mbox-agent run has no \(flag)")
        }
    }
}

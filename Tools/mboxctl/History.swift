import ArgumentParser
import Foundation
import MBoxControlPlane
import MBoxProto

struct History: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a chain's revisions (who applied or deleted it, when, its rule files), or what one revision changed.",
        discussion: "--diff REV prints what REV changed from the revision before it (the chain file, placement and rule files).")

    @Argument(help: "The chain's name.")
    var name: String

    @Option(help: "Print what this revision changed from the one before it.")
    var diff: UInt64?

    @Option(help: "At most this many of the newest revisions.")
    var limit: UInt32 = 100

    @OptionGroup var format: OutputFormat

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        var request = Mbox_V1_ChainRevisionsRequest()
        request.name = name
        request.limit = diff == nil ? limit : 10_000
        let query = request
        let revisions = try await connection.withOperator {
            try await $0.listChainRevisions(query, options: ConnectionOptions.deadline).revisions
        }
        if let diff {
            guard let index = revisions.firstIndex(where: { $0.revision == diff }) else {
                throw CtlError("chain '\(name)' has no revision \(diff) (it has \(revisions.map { "\($0.revision)" }.joined(separator: ", ")))")
            }
            let changes = revisions[index].changes(since: index > 0 ? revisions[index - 1] : nil)
            let text = LineDiff.unified(changes)
            print(text.isEmpty ? "revision \(diff) changed nothing in the chain file, placement or rule files" : text)
            return
        }
        if format.json {
            revisions.forEach { print((try? $0.jsonString()) ?? "{}") }
            return
        }
        print(Table.render(["REVISION", "TIME", "ACTION", "OPERATOR", "CERTIFICATE", "RULE FILES"], revisions.reversed().map { revision in
            ["\(revision.revision)", EVE.timestamp(revision.timeUnixMs * 1000), revision.action, revision.operator,
             String(revision.certificateSha256.prefix(16)),
             revision.spec.ruleSets.map { "\($0.name) (\($0.bytes) bytes)" }.joined(separator: ", ")]
        }))
    }
}

struct ConsoleToken: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "console-token",
        abstract: "Get a token for the controller's web console, acting as this operator, and the link that signs in with it.")

    @Option(help: "How long the token is valid: 30m, 12h, 7d at most.")
    var ttl = "12h"

    @Option(help: "The console's address HOST:PORT (mbox-controller --console), for the sign-in link; MBOX_CONSOLE by default.")
    var console: String?

    @OptionGroup var connection: ConnectionOptions

    func validate() throws { _ = try seconds() }

    func seconds() throws -> UInt32 {
        guard let seconds = Age.seconds(ttl), seconds >= 1, seconds <= 7 * 86400 else {
            throw ValidationError("--ttl '\(ttl)' is not a duration between 1s and 7d (30m, 12h, 7d)")
        }
        return UInt32(seconds)
    }

    func run() async throws {
        var request = Mbox_V1_ConsoleTokenRequest()
        request.ttlSeconds = try seconds()
        let asked = request
        let response = try await connection.withOperator { try await $0.issueConsoleToken(asked, options: ConnectionOptions.deadline) }
        print(response.token)
        let expires = EVE.timestamp(response.expiresUnixMs * 1000)
        var note = "operator '\(response.operator)', valid until \(expires)"
        if let console = console ?? ProcessInfo.processInfo.environment["MBOX_CONSOLE"] { note += "; sign in at https://\(console)/login?token=\(response.token)" }
        FileHandle.standardError.write(Data((note + "\n").utf8))
    }
}

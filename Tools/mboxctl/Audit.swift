import ArgumentParser
import Foundation
import GRPCCore
import MBoxControlPlane
import MBoxProto

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show operators' changes: who applied or deleted which chain, with which certificate, and the outcome.")

    @Option(help: "At most this many of the newest entries.")
    var limit: UInt32 = 100

    @OptionGroup var format: OutputFormat

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
        var query = Mbox_V1_AuditQuery()
        query.limit = limit
        let request = query
        let entries = try await connection.withOperator { try await $0.listAudit(request, options: ConnectionOptions.deadline).entries }
        if format.json {
            for entry in entries {
                let object: [String: Any] = [
                    "time": EVE.timestamp(entry.timeUnixMs * 1000), "operator": entry.operator,
                    "certificate_sha256": entry.certificateSha256, "peer": entry.peer, "action": entry.action, "chain": entry.chain,
                    "revision": entry.revision, "outcome": entry.outcome,
                ]
                let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
                print(String(decoding: data, as: UTF8.self))
            }
            return
        }
        print(Table.render(["TIME", "OPERATOR", "CERTIFICATE", "PEER", "ACTION", "CHAIN", "REVISION", "OUTCOME"], entries.map { entry in
            [EVE.timestamp(entry.timeUnixMs * 1000), entry.operator, String(entry.certificateSha256.prefix(16)), entry.peer,
             entry.action, entry.chain, "\(entry.revision)", entry.outcome]
        }))
    }
}

import Foundation
import GRPCCore
import MBoxControlPlane
import MBoxControllerCore
import MBoxProto
import Testing

@Suite("Operators' alert queries and live follows", .serialized)
struct AlertQueryTests {
    @Test("A follow gets the stored matching alerts, then new ones as agents report them, each once")
    func follow() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let running = try await RunningController(in: scratch, pki: pki)
        @Sendable func batch(_ range: Range<Int>) -> [Mbox_V1_Alert] {
            range.map { index in
                var alert = syntheticAlert(index)
                alert.sequence = UInt64(index + 1)
                alert.spoolID = 1
                return alert
            }
        }
        _ = try await running.controller.ingest("edge-1", batch(0..<70))
        _ = try await running.controller.ingest("edge-2", batch(0..<10))

        let received = try await withClient(running.endpoint, tls: pki.files("alice")) { client in
            var query = Mbox_V1_AlertQuery()
            query.agent = "edge-1"
            query.sid = 1_000_002
            return try await Mbox_V1_OperatorService.Client(wrapping: client).followAlerts(query) { response in
                var seen: [Mbox_V1_Alert] = []
                var live = false
                for try await alert in response.messages {
                    seen.append(alert)
                    if seen.count == 10, !live {
                        live = true
                        // While following: more from edge-1 (some matching), a resend, and edge-2.
                        _ = try await running.controller.ingest("edge-1", batch(60..<140))
                        _ = try await running.controller.ingest("edge-2", batch(10..<100))
                    }
                    if seen.count == 20 { break }
                }
                return seen
            }
        }
        // sid 1000002 is every 7th index from 2: 10 stored below 70, 10 new in 70..<140.
        #expect(received.map(\.flowID) == Array(stride(from: 2, to: 140, by: 7)).map(UInt64.init))
        #expect(received.allSatisfy { $0.agent == "edge-1" && $0.sid == 1_000_002 })
        #expect(Set(received.map(\.sequence)).count == 20)
        await running.stop()
    }

    @Test("A message over the size limit is refused (the stream is reset, nothing buffered), and the controller carries on")
    func oversized() async throws {
        let scratch = try ScratchDirectory()
        let pki = try TestPKI(in: scratch)
        let running = try await RunningController(in: scratch, pki: pki)
        try await withClient(running.endpoint, tls: pki.files("alice")) { client in
            let service = Mbox_V1_OperatorService.Client(wrapping: client)
            var request = Mbox_V1_ApplyChainRequest()
            let huge = String(repeating: "# padding\n", count: ControllerServer.maximumMessageBytes / 10 + 1)
            request.spec = chainSpec(idsChain(), rules: ["rules.rules": sqlRule + "\n" + huge])
            let refused = await SecurityTests.rpcError { _ = try await service.applyChain(request, options: shortDeadline) }
            #expect(refused != nil && [.resourceExhausted, .unavailable].contains(refused!.code), "\(String(describing: refused))")
            request.spec = chainSpec(idsChain(), rules: ["rules.rules": sqlRule])
            let applied = try await service.applyChain(request, options: shortDeadline)
            #expect(applied.outcome == "created")
        }
        await running.stop()
    }
}

import Foundation
import MBoxAppLayer
import MBoxChain
import MBoxDataPath
import MBoxEvents
import MBoxNFRunner
import MBoxNFs
import MBoxPacket
import MBoxTrafficGen
import Testing

/// The application layer as a stage of its own: requests parsed once per flow, whatever
/// number of NFs read them, counted against tshark; `APP/…` events for subscribers; the
/// detection NFs read the same transactions.
@Suite("Application-layer stage")
struct AppLayerStageTests {
    static let rules = #"""
    alert http any any -> any any (msg:"login"; flow:to_server; http.uri; content:"/login"; sid:1;)
    alert http any any -> any any (msg:"ok"; flow:to_client; http.stat_code; content:"200"; sid:2;)
    alert dns any any -> any any (msg:"query"; dns.query; content:"example"; sid:3;)
    alert tls any any -> any any (msg:"sni"; tls.sni; content:"example"; sid:4;)
    """#

    /// Lines of `tshark -r capture -Y filter`.
    static func tsharkCount(_ capture: String, _ filter: String) throws -> Int {
        let tshark = Process()
        tshark.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        tshark.arguments = ["tshark", "-r", capture, "-Y", filter, "-T", "fields", "-e", "frame.number"]
        let output = Pipe()
        tshark.standardOutput = output
        tshark.standardError = FileHandle.nullDevice
        try tshark.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        tshark.waitUntilExit()
        try #require(tshark.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self).split(separator: "\n").count
    }

    static func chain(_ functions: String, rules: String) throws -> CompiledChain {
        try compileChain("""
        name: app
        stack: {type: tcp_monitor, reassembly: true}
        functions:
        \(functions)
        """, rules: rules)
    }

    static let matcher = """
      - name: ids
        type: Signature_Match
        subscribe: [{event: PKT, stack: sender}, DATA_RDY, FLOW_DEST]
        publish: [EVENT/IDS_ALERT]
    """

    @Test("each HTTP request and DNS query is parsed once whatever the readers (tshark counts them); APP events reach subscribers; alerts do not change")
    func parsedOnce() throws {
        try #require(installed("tshark"), "tshark is the oracle (scripts/setup.sh installs it)")
        let scratch = try Scratch("app-stage")
        var profile = TrafficProfile(seed: 41, flows: 240)
        profile.applications = [.http, .http, .tls, .dns, .ssh]
        profile.concurrency = 24
        let capture = try MemoryCapture(profile)
        try capture.write(to: scratch.path + "/traffic.pcap")
        try Self.rules.write(toFile: scratch.path + "/app.rules", atomically: true, encoding: .utf8)
        let requests = try Self.tsharkCount(scratch.path + "/traffic.pcap", "http.request")
        let queries = try Self.tsharkCount(scratch.path + "/traffic.pcap", "dns.flags.response == 0")
        try #require(requests > 0 && queries > 0)

        // One reader.
        let single = try Self.chain(Self.matcher, rules: scratch.path + "/app.rules").makePipeline(configuration: DataPathConfiguration())
        let alone = replay(capture, through: single)
        let stage = try #require(single.chain.appLayer)
        #expect(stage.counters.httpRequests == UInt64(requests), "every request parsed, once")
        #expect(stage.counters.transactions[Int(AppLayerProtocol.dns.rawValue)] >= UInt64(queries))

        // Three readers: two detection NFs and a Logger of requests and queries.
        let log = scratch.path + "/app.log"
        let three = try Self.chain(Self.matcher + """

          - name: ids2
            type: Signature_Match
            subscribe: [{event: PKT, stack: sender}, DATA_RDY, FLOW_DEST]
            publish: [EVENT/IDS_ALERT]
          - name: logger
            type: Logger
            parameters: {path: \(log)}
            subscribe: [APP/HTTP/REQUEST, APP/DNS/QUERY]
        """, rules: scratch.path + "/app.rules").makePipeline(configuration: DataPathConfiguration())
        let together = replay(capture, through: three)
        let shared = try #require(three.chain.appLayer)
        #expect(shared.counters.httpRequests == UInt64(requests), "three readers, still parsed once")
        #expect(shared.counters.bytesParsed == stage.counters.bytesParsed)
        let first = together.filter { $0.publisher == 0 }.map { "\($0.flowID)/\($0.rule)" }
        let second = together.filter { $0.publisher == 1 }.map { "\($0.flowID)/\($0.rule)" }
        #expect(!first.isEmpty)
        #expect(first.sorted() == alone.map { "\($0.flowID)/\($0.rule)" }.sorted(), "the same alerts with more readers")
        #expect(first.sorted() == second.sorted())
        #expect(Set(alone.map(\.rule)).count == 4, "every rule (URI, status, DNS, SNI) raised alerts: \(Set(alone.map(\.rule)))")
        three.chain.finish()
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        #expect(lines.filter { $0.contains(" APP/HTTP/REQUEST ") }.count == requests)
        #expect(lines.filter { $0.contains(" APP/DNS/QUERY ") }.count == queries)
    }

    @Test("a stream fed in pieces and twice: parsed once; readers find the transactions by byte range; a new flow in the slot starts afresh")
    func byteRanges() throws {
        let stage = AppLayerStage(capacity: 4, wanted: .all, parsed: [.http])
        let request = Array("GET /a HTTP/1.1\r\nHost: example.org\r\n\r\nGET /b HTTP/1.1\r\nHost: example.org\r\n\r\n".utf8)
        let cut = 20
        request.withUnsafeBytes { bytes in
            stage.beginPacket()
            #expect(stage.stream(slot: 1, flowID: 7, serverPort: 80, toServer: true, offset: 0,
                                 bytes: UnsafeRawBufferPointer(rebasing: bytes[..<cut])).isEmpty)
            stage.beginPacket()
            let added = stage.stream(slot: 1, flowID: 7, serverPort: 80, toServer: true, offset: UInt64(cut),
                                     bytes: UnsafeRawBufferPointer(rebasing: bytes[cut...]))
            #expect(added.count == 2)
            #expect(stage.detected(slot: 1, flowID: 7) == .http)
            // The same bytes again (a reader handed the stream from its start): nothing new.
            #expect(stage.stream(slot: 1, flowID: 7, serverPort: 80, toServer: true, offset: 0, bytes: bytes).isEmpty)
            var uris: [String] = []
            stage.forEachTransaction(flowID: 7, toServer: true, after: 0, through: UInt64(bytes.count)) {
                uris.append(String(decoding: $0.buffers[.httpURI].first ?? [], as: UTF8.self))
            }
            #expect(uris == ["/a", "/b"])
            var none = 0
            stage.forEachTransaction(flowID: 7, toServer: true, after: UInt64(bytes.count), through: .max) { _ in none += 1 }
            stage.forEachTransaction(flowID: 8, toServer: true, after: 0, through: .max) { _ in none += 1 }
            #expect(none == 0)
            #expect(stage.counters.httpRequests == 2 && stage.counters.bytesParsed == UInt64(bytes.count))
            // Another flow in the slot: detection starts over.
            stage.beginPacket()
            #expect(stage.detected(slot: 1, flowID: 9) == nil)
            #expect(stage.stream(slot: 1, flowID: 9, serverPort: 80, toServer: true, offset: 0, bytes: bytes).count == 2)
            #expect(stage.counters.httpRequests == 4)
        }
    }
}

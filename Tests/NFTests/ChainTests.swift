import Foundation
import MBoxChain
import MBoxDataPath
import MBoxEvents
import MBoxNFRunner
import MBoxNFs
import MBoxPacket
import MBoxTCPMonitor
import MBoxTrafficGen
import Testing

@Suite("Chains: dynamic subscriptions, parallel stages, validation")
struct ChainTests {
    static func attackCapture(seed: UInt64 = 3, flows: Int = 300) throws -> MemoryCapture {
        var profile = TrafficProfile(seed: seed, flows: flows, attack: "UNION SELECT", attackShare: 0.3)
        profile.attackSegments = 3
        profile.outOfOrder = 0.2
        profile.retransmissions = 0.1
        return try MemoryCapture(profile)
    }

    @Test("DPI_DETECT hands HTTP flows to a subscriber, which then sees that flow's packets only")
    func dynamicHandOver() throws {
        let capture = try Self.attackCapture(flows: 80)
        var types = EventTypes()
        _ = try types.declare("EVENT/DPI_DETECT")
        let recorder = RecorderNF()
        recorder.subscribeOnCustom = true
        let dpi = DPI()
        let dataPath = DataPath(configuration: { var c = DataPathConfiguration(); c.reassembly = nil; return c }())
        let subscriptions = [
            Subscription(nf: 0, type: .packetTCP, filter: .matching(side: .server, cause: .client)),
            Subscription(nf: 1, type: .dpiDetect, condition: .appProtocol(.http)),
            Subscription(nf: 1, type: .packetTCP, filter: .matching(side: .server, cause: .client), initiallyActive: false),
        ]
        let runner = try ChainRunner(types: types, subscriptions: subscriptions,
                                     members: [ChainMember(name: "dpi", action: .readOnly, function: dpi),
                                               ChainMember(name: "recorder", action: .readOnly, function: recorder)],
                                     dataPath: dataPath)
        replay(capture, through: Pipeline(dataPath: dataPath, source: EventSource(types: types, wantedTypes: runner.table.wantedTypes(types)), chain: runner))
        let detections = recorder.seen.filter { $0.type == .dpiDetect }
        let httpFlows = Set(detections.map(\.flowID))
        #expect(httpFlows.count == dpi.detected(.http))
        #expect(httpFlows.count == capture.summary.tcpFlows / 3, "one HTTP flow in three (http, tls, ssh in turn)")
        let packets = recorder.seen.filter { $0.type == .packetTCP }
        #expect(!packets.isEmpty)
        #expect(packets.allSatisfy { httpFlows.contains($0.flowID) }, "no packet of a TLS or SSH flow")
        // The packet DPI classified reaches the recorder in the same dispatch, right after DPI_DETECT.
        for flow in httpFlows {
            let first = recorder.seen.firstIndex { $0.flowID == flow }!
            #expect(recorder.seen[first].type == .dpiDetect)
            #expect(recorder.seen[first + 1].type == .packetTCP && recorder.seen[first + 1].payloadLength > 0)
        }
        // DPI left each flow once decided: it saw at most one payload-carrying event per flow here.
        #expect(runner.counters.perNF[0] < UInt64(capture.packets.count))
    }

    @Test("parallel and sequential runs give the same alerts, drops and deliveries", arguments: ["idsmon-both", "idsmon-default"])
    func parallelEqualsSequential(chainName: String) throws {
        let capture = try Self.attackCapture(seed: 9, flows: 400)
        var yaml = try String(contentsOfFile: packageRoot + "/chains/seed/\(chainName).yaml", encoding: .utf8)
        // Drop SSH in this test, so the verdicts are exercised.
        yaml = yaml.replacingOccurrences(of: "dst_port: \"23\"", with: "dst_port: \"22\"")
        var results: [(alerts: Set<String>, dropped: UInt64, delivered: [UInt64], parallel: UInt64)] = []
        for mode in ["sequential", "parallel"] {
            let text = yaml.replacingOccurrences(of: "mode: sequential", with: "mode: \(mode)")
            let chain = try compileChain(text, file: packageRoot + "/chains/seed/x.yaml", rules: webRules)
            if mode == "parallel" { #expect(chain.stages.contains { $0.count > 1 }) }
            let pipeline = try chain.makePipeline(configuration: DataPathConfiguration())
            let alerts = replay(capture, through: pipeline)
            results.append((Set(alerts.map { "\($0.flowID)/\($0.rule)" }), pipeline.dropped,
                            pipeline.chain.counters.perNF, pipeline.chain.counters.parallelEvents))
        }
        #expect(!results[0].alerts.isEmpty && results[0].dropped > 0)
        #expect(results[0].alerts == results[1].alerts)
        #expect(results[0].dropped == results[1].dropped)
        #expect(results[0].delivered == results[1].delivered)
        #expect(results[0].parallel == 0 && results[1].parallel > 0, "the parallel run did hand events to another core")
    }

    @Test("every shipped chain file compiles; the built-in IDS chain is chains/ids.yaml")
    func shippedChains() throws {
        let directory = packageRoot + "/chains"
        var files = ["ids.yaml", "l7-balancer.yaml", "split-proxy.yaml", "ips-inline.yaml", "l2l3-forward.yaml"]
        files += try FileManager.default.contentsOfDirectory(atPath: directory + "/seed").filter { $0.hasSuffix(".yaml") }.map { "seed/" + $0 }
        #expect(files.count >= 10)
        for file in files {
            let definition = try ChainParser().parse(file: directory + "/" + file)
            _ = try ChainCompiler().compile(definition, resources: BuildResources(rulesOverride: webRules))
        }
        let source = try String(contentsOfFile: packageRoot + "/Agent/Commands/mbox-agent/DefaultChain.swift", encoding: .utf8)
        let shipped = try String(contentsOfFile: directory + "/ids.yaml", encoding: .utf8)
        #expect(source.contains(shipped), "DefaultChain.yaml must be chains/ids.yaml verbatim")
    }

    static let invalidChains: [(String, String, String)] = [
        ("unknown NF type", """
        name: x
        functions:
          - name: a
            type: Antivirus
            subscribe: [PKT]
        """, "test.yaml:3:5: unknown NF type 'Antivirus'"),
        ("custom event nobody publishes", """
        name: x
        functions:
          - name: sig
            type: Signature_Match
            subscribe:
              - EVENT/DPI_DETECT
        """, "test.yaml:6:9: no NF in this chain publishes 'EVENT/DPI_DETECT'"),
        ("unknown event", """
        name: x
        functions:
          - name: dpi
            type: DPI
            subscribe: [PKT/UDP]
        """, "test.yaml:5:17: unknown event 'PKT/UDP'"),
        ("DATA_RDY without reassembly", """
        name: x
        stack: {type: tcp_monitor, reassembly: false}
        functions:
          - name: dpi
            type: DPI
            subscribe: [DATA_RDY]
        """, "test.yaml:6:17: DATA_RDY needs 'stack: {type: tcp_monitor, reassembly: true}'"),
        ("unknown parameter", """
        name: x
        functions:
          - name: dpi
            type: DPI
            parameters: {max_inspection: 3}
            subscribe: [PKT]
        """, "test.yaml:5:18: DPI has no parameter 'max_inspection'"),
        ("condition on the wrong event", """
        name: x
        functions:
          - name: dpi
            type: DPI
            subscribe:
              - {event: PKT, where: {protocol: http}}
        """, "test.yaml:6:9: 'where: {protocol: …}' applies to EVENT/DPI_DETECT only"),
        ("conflicting parallel group", """
        name: x
        mode: parallel
        parallel: [[dpi, sig]]
        functions:
          - name: dpi
            type: DPI
            subscribe: [PKT/TCP]
          - name: sig
            type: Signature_Match
            subscribe: [EVENT/DPI_DETECT]
        """, "test.yaml:3:12: 'sig' subscribes to EVENT/DPI_DETECT, which 'dpi' in the same parallel group publishes"),
        ("a dropping NF in a parallel group", """
        name: x
        mode: parallel
        parallel: [[fw, dpi]]
        functions:
          - name: fw
            type: Firewall
            subscribe: [PKT]
          - name: dpi
            type: DPI
            subscribe: [PKT]
        """, "test.yaml:3:12: 'fw' may drop or modify packets"),
        ("publishing what the NF cannot", """
        name: x
        functions:
          - name: dpi
            type: DPI
            subscribe: [PKT]
            publish: [EVENT/IDS_ALERT]
        """, "test.yaml:6:15: DPI does not publish 'EVENT/IDS_ALERT'"),
        ("FLOW_REQ without the splicer", """
        name: x
        functions:
          - name: lb
            type: L7_LoadBalancer
            parameters: {pools: {web: ["10.0.0.1:80"]}}
            subscribe: [FLOW_REQ]
        """, "test.yaml:6:17: FLOW_REQ is published by the TCP Splicer, which no 'select' rule of this chain uses"),
        ("a splicer rule without its service", """
        name: x
        select:
          - {stack: tcp_splicer, ports: 80}
        functions:
          - name: dpi
            type: DPI
            subscribe: [PKT]
        """, "a tcp_splicer rule names the 'service' (address:port) it answers for"),
        ("a balancer rule naming no pool it has", """
        name: x
        select:
          - {stack: tcp_splicer, service: "10.0.0.100:80"}
        functions:
          - name: lb
            type: L7_LoadBalancer
            parameters:
              pools: {web: ["10.0.0.1:80"]}
              rules: [{host: a.example, pool: api}]
            subscribe: [FLOW_REQ]
        """, "rule names pool 'api', which 'pools' does not define"),
        ("a service that is not address:port", """
        name: x
        select:
          - {stack: tcp_splicer, service: "10.0.0.100"}
        functions:
          - name: dpi
            type: DPI
            subscribe: [PKT]
        """, "service is an IPv4 address:port the splicer answers for"),
        ("byte streams without the split proxy", """
        name: x
        select:
          - {stack: tcp_splicer, service: "10.0.0.100:80"}
        functions:
          - name: rw
            type: HTTP_Rewriter
            subscribe: [BYTESTREAM]
        """, "BYTESTREAM is published by the TCP Split Proxy, which no 'select' rule of this chain uses"),
        ("a Location rule without its target", """
        name: x
        select:
          - {stack: tcp_split_proxy, service: "10.0.0.100:80"}
        functions:
          - name: rw
            type: HTTP_Rewriter
            subscribe: [BYTESTREAM]
            parameters:
              location: {from: "http://a/"}
        """, "'location' is {from: PREFIX, to: REPLACEMENT}"),
        ("YAML syntax", """
        name: x
        functions:
          - name: dpi
            type: [DPI
        """, "test.yaml:5:0: not valid YAML"),
    ]

    @Test("invalid chains are refused with file, line and what is wrong", arguments: 0..<16)
    func invalidChain(index: Int) throws {
        let (name, yaml, expected) = Self.invalidChains[index]
        do {
            _ = try compileChain(yaml, rules: webRules)
            Issue.record("\(name): accepted")
        } catch let errors as ChainErrors {
            #expect(errors.description.contains(expected), "\(name): got \(errors)")
        }
    }
}

@Suite("Stack customised by the chain")
struct StackCustomisationTests {
    @Test("a chain that reads only clients' streams reassembles only those; --streams keeps both")
    func reassemblesOnlyWhatIsRead() throws {
        var profile = TrafficProfile()
        profile.flows = 30
        profile.applications = [.http]
        let capture = try MemoryCapture(profile)
        let chain = try compileChain(String(contentsOfFile: packageRoot + "/chains/seed/config5.yaml", encoding: .utf8),
                                     rules: webRules)
        let lean = try chain.makePipeline(configuration: DataPathConfiguration())
        let full = try chain.makePipeline(configuration: DataPathConfiguration(), keepBothStreams: true)
        replay(capture, through: lean)
        replay(capture, through: full)
        let leanBytes = lean.dataPath.monitor.reassembler!.counters.deliveredBytes
        let fullBytes = full.dataPath.monitor.reassembler!.counters.deliveredBytes
        #expect(lean.dataPath.monitor.reassembler!.configuration.toClient == false)
        #expect(leanBytes > 0 && fullBytes > 2 * leanBytes, "responses are larger than requests")
        #expect(lean.chain.counters.perNF == full.chain.counters.perNF, "the NFs saw the same events")
    }
}

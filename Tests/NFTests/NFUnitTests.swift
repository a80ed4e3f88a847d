import Foundation
import MBoxAppLayer
import MBoxChain
import MBoxDataPath
import MBoxEvents
import MBoxNFRunner
import MBoxNFs
import MBoxRules
import MBoxTrafficGen
import Testing

@Suite("Built-in NFs")
struct NFUnitTests {
    func classify(_ text: [UInt8], fromClient: Bool = true) -> AppLayerProtocol? {
        text.withUnsafeBytes { AppDetect.tcp($0, toServer: fromClient) }
    }

    @Test("DPI tells protocols as detection does (HTTP, TLS with SNI, SSH, SMTP, DNS on its ports) and says nil when unsure")
    func dpiClassifies() {
        #expect(classify(Array("GET / HTTP/1.1\r\n".utf8)) == .http)
        #expect(classify(Array("HTTP/1.1 200 OK\r\n".utf8), fromClient: false) == .http)
        #expect(classify(Array("SSH-2.0-OpenSSH_9.6\r\n".utf8)) == .ssh)
        #expect(classify(Array("EHLO mail.example.net\r\n".utf8)) == .smtp)
        #expect(classify(Array("220 mx.example.net ESMTP Postfix\r\n".utf8), fromClient: false) == .smtp)
        #expect(classify(Array("hello there".utf8)) == nil)
        #expect(classify(Array("GE".utf8)) == nil)
        // A real ClientHello from the generator.
        var profile = TrafficProfile()
        profile.flows = 1
        profile.applications = [.tls]
        let capture = try! MemoryCapture(profile)
        let path = DataPath()
        var names: [String] = []
        for packet in capture.packets {
            _ = path.process(packet)
            let headers = path.headers.pointee
            guard headers.payloadLength > 0 else { continue }
            let payload = UnsafeRawBufferPointer(rebasing: packet.data[headers.payloadOffset..<(headers.payloadOffset + headers.payloadLength)])
            if AppDetect.tcp(payload, toServer: true) == .tls, let name = TLSParser.serverName(inClientHello: payload) {
                names.append(name)
            }
        }
        #expect(names.count == 1 && names.first?.contains("example") == true)
        // Truncated hellos are refused, not read past their end.
        let hello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0x03, 0x03] + [UInt8](repeating: 0, count: 34) + [0xff, 0xff]
        #expect(hello.withUnsafeBytes { TLSParser.serverName(inClientHello: $0) } == nil)
    }

    @Test("Firewall drops every packet of a blocked flow and only those")
    func firewall() throws {
        var profile = TrafficProfile()
        profile.flows = 40
        let capture = try MemoryCapture(profile)
        let chain = try compileChain("""
        name: fw
        stack: {type: tcp_monitor, reassembly: false}
        functions:
          - name: firewall
            type: Firewall
            parameters:
              default: allow
              rules:
                - {action: drop, proto: tcp, dst: 192.0.2.0/24, dst_port: "22"}
                - {action: drop, proto: udp, dst_port: "53"}
            subscribe: [PKT]
        """)
        let pipeline = try chain.makePipeline(configuration: DataPathConfiguration())
        var droppedPorts = Set<UInt16>()
        for packet in capture.packets where pipeline.process(packet) == .drop {
            let headers = pipeline.dataPath.headers.pointee
            droppedPorts.insert(min(headers.sourcePort, headers.destinationPort))
        }
        #expect(droppedPorts == [22, 53])
        let firewall = try #require(pipeline.chain.members[0].function as? Firewall)
        #expect(firewall.blockedFlows == UInt64(capture.summary.udpFlows + capture.summary.tcpFlows / 3))
        #expect(pipeline.dropped == firewall.droppedPackets)
    }

    @Test("Flow_Stats publishes LONG_FLOW once per long flow; Logger then logs those flows' packets")
    func longFlows() throws {
        var profile = TrafficProfile()
        profile.flows = 30
        profile.applications = [.http, .ssh]
        profile.responseBodySize = 6000
        let capture = try MemoryCapture(profile)
        let log = NSTemporaryDirectory() + "mbox-logger-\(UUID().uuidString).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let chain = try compileChain("""
        name: mon
        stack: {type: tcp_monitor, reassembly: false}
        functions:
          - name: stats
            type: Flow_Stats
            parameters: {long_flow_average_bytes: 700, minimum_packets: 4}
            subscribe: [{event: PKT/TCP, stack: receiver}]
            publish: [EVENT/LONG_FLOW]
          - name: logger
            type: Logger
            parameters: {path: "\(log)"}
            subscribe:
              - EVENT/LONG_FLOW
              - {event: PKT/TCP, stack: receiver, dynamic: true}
        """)
        let pipeline = try chain.makePipeline(configuration: DataPathConfiguration())
        replay(capture, through: pipeline)
        let stats = try #require(pipeline.chain.members[0].function as? FlowStats)
        #expect(stats.longFlows == UInt64(capture.summary.tcpFlows / 2), "the HTTP flows with 6 kB responses")
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n")
        let longFlowLines = lines.filter { $0.contains("EVENT/LONG_FLOW") }
        #expect(longFlowLines.count == Int(stats.longFlows))
        let loggedFlows = Set(lines.compactMap { $0.split(separator: " ").first { $0.hasPrefix("flow=") } })
        #expect(loggedFlows.count == Int(stats.longFlows), "packets of long flows only")
        #expect(lines.count > longFlowLines.count)
    }

    @Test("EVE alert lines have Suricata's shape")
    func eveShape() throws {
        let rule = try RuleParser().parseRule(
            #"alert tcp any any -> any 80 (msg:"A \"quoted\" name"; content:"x"; classtype:attempted-admin; sid:7; rev:2;)"#)
        var event = Event(type: .idsAlert, side: .server, cause: .client, slot: 0, flowID: 99,
                          timestamp: 1_700_000_000_123_456_789)
        event.detail = EventDetail(appProtocol: .http, index: 0)
        let key = MBoxFlow.FlowKey(client: IPAddress(10, 0, 0, 1), clientPort: 1234, server: IPAddress("2001:db8::1")!,
                                   serverPort: 80, ipProtocol: 6)
        let line = EVEWriter.line(alert: event, rule: rule, key: key)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(json["timestamp"] as? String == "2023-11-14T22:13:20.123456+0000")
        #expect(json["event_type"] as? String == "alert" && json["flow_id"] as? Int == 99)
        #expect(json["src_ip"] as? String == "10.0.0.1" && json["src_port"] as? Int == 1234)
        #expect(json["dest_ip"] as? String == "2001:db8::1" && json["dest_port"] as? Int == 80)
        #expect(json["proto"] as? String == "TCP" && json["app_proto"] as? String == "http")
        let alert = try #require(json["alert"] as? [String: Any])
        #expect(Set(alert.keys) == ["action", "gid", "signature_id", "rev", "signature", "category", "severity"])
        #expect(alert["signature"] as? String == #"A "quoted" name"# && alert["signature_id"] as? Int == 7)
        #expect(alert["category"] as? String == "Attempted Administrator Privilege Gain" && alert["severity"] as? Int == 1)
    }
}

import MBoxFlow
import MBoxPacket

import Foundation
import MBoxTrafficGen
import Testing

/// The `mbox-agent replay` command as an operator runs it.
@Suite("mbox-agent replay")
struct ReplayCommandTests {
    @Test("writes one JSON line per TCP flow and a summary on stderr")
    func streamsFile() throws {
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.flows = 40
        profile.malformed = 0.05
        let summary = try generate(profile, to: scratch.file("in.pcap"))
        let result = try run([try agentCommand(), "replay", "--pcap", scratch.file("in.pcap"), "--streams", scratch.file("out.jsonl")])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = try parseJSONLines(scratch.file("out.jsonl"))
        #expect(lines.count == summary.tcpFlows)
        for key in ["src_ip", "src_port", "dest_ip", "dest_port", "to_server", "to_client"] {
            #expect(lines.allSatisfy { $0[key] != nil }, "every line has \(key)")
        }
        #expect(lines.allSatisfy { ($0["dest_port"] as! Int) < 1024 }, "src is the client, dest the server")
        #expect(result.stderr.contains("packets      \(summary.packets)"))
        #expect(result.stderr.contains("malformed    \(summary.malformed.values.reduce(0, +))"))
        #expect(result.stderr.contains("packets/s"))
    }

    @Test("bad input gives a clear message and a non-zero exit", arguments: [
        (["--pcap", "/nonexistent/x.pcap"], "No such file"),
        (["--pcap", "/etc/os-release"], "not a pcap or pcapng file"),
        (["--pcap", "/etc/os-release", "--overlap", "middle"], "--overlap must be first, last, bsd, linux, windows, solaris or host"),
        (["--pcap", "/etc/os-release", "--flow-capacity", "0"], "--flow-capacity"),
        (["--pcap", "/etc/os-release", "--reassembly-global-limit", "100000000000"], "more than half this machine's memory"),
        ([String](), "give exactly one source: --pcap FILE or --dpdk"),
    ])
    func badArguments(arguments: [String], message: String) throws {
        let result = try run([try agentCommand(), "replay"] + arguments)
        #expect(result.status != 0)
        #expect(result.stderr.contains(message), "stderr was: \(result.stderr)")
    }

    @Test("a capture cut short reports where, after processing what came before")
    func truncatedFile() throws {
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.flows = 10
        try generate(profile, to: scratch.file("full.pcap"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: scratch.file("full.pcap")))
        try bytes.prefix(bytes.count - 7).write(to: URL(fileURLWithPath: scratch.file("cut.pcap")))
        let result = try run([try agentCommand(), "replay", "--pcap", scratch.file("cut.pcap"), "--streams", scratch.file("o.jsonl")])
        #expect(result.status != 0)
        #expect(result.stderr.contains("truncated"))
        #expect(try parseJSONLines(scratch.file("o.jsonl")).count == 8, "flows before the damage are still written")
    }
}

/// Output paths and rule files as operators give them.
@Suite("mbox-agent replay: outputs and rule files")
struct ReplayFilesTests {
    static let rule = #"alert tcp any any -> any any (msg:"POST"; flow:to_server; content:"POST"; sid:1;)"#

    func capture(_ scratch: ScratchDirectory) throws -> String {
        var profile = TrafficProfile()
        profile.flows = 20
        profile.applications = [.http]
        try generate(profile, to: scratch.file("in.pcap"))
        try (Self.rule + "\n").write(toFile: scratch.file("one.rules"), atomically: true, encoding: .utf8)
        return scratch.file("in.pcap")
    }

    @Test("--eve writes through a symlink and into a FIFO, which stay what they are")
    func outputsInPlace() throws {
        let scratch = try ScratchDirectory()
        let pcap = try capture(scratch)
        // A symlink to a file: the file gets the alerts, the link stays a link.
        try "old".write(toFile: scratch.file("target.json"), atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: scratch.file("link.json"), withDestinationPath: scratch.file("target.json"))
        let linked = try run([try agentCommand(), "replay", "--pcap", pcap, "--rules", scratch.file("one.rules"),
                              "--eve", scratch.file("link.json")])
        #expect(linked.status == 0, "\(linked.stderr)")
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.file("link.json"))
        #expect(attributes[.type] as? FileAttributeType == .typeSymbolicLink)
        let written = try parseJSONLines(scratch.file("target.json"))
        #expect(written.count == 20 && written.allSatisfy { $0["event_type"] as? String == "alert" })
        // A FIFO: a reader on the other end gets every line.
        #expect(mkfifo(scratch.file("fifo"), 0o644) == 0)
        let reader = Process()
        reader.executableURL = URL(fileURLWithPath: "/bin/sh")
        reader.arguments = ["-c", "cat \(scratch.file("fifo")) > \(scratch.file("from-fifo.json"))"]
        try reader.run()
        let piped = try run([try agentCommand(), "replay", "--pcap", pcap, "--rules", scratch.file("one.rules"),
                             "--eve", scratch.file("fifo")])
        reader.waitUntilExit()
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(try parseJSONLines(scratch.file("from-fifo.json")).count == 20)
        var status = stat()
        #expect(stat(scratch.file("fifo"), &status) == 0 && (status.st_mode & S_IFMT) == S_IFIFO, "the FIFO is still a FIFO")
    }

    @Test("rule files: a directory, a missing file, nothing loadable — a clear message and a non-zero exit")
    func badRuleFiles() throws {
        let scratch = try ScratchDirectory()
        let pcap = try capture(scratch)
        try #"alert tcp any any -> any any (msg:"x"; nonsense; sid:1;)"#.write(toFile: scratch.file("bad.rules"), atomically: true,
                                                                          encoding: .utf8)
        for (rules, message) in [(scratch.path, "is a directory"), (scratch.file("missing.rules"), "cannot read rules file"),
                                 (scratch.file("bad.rules"), "no rule of")] {
            let result = try run([try agentCommand(), "replay", "--pcap", pcap, "--rules", rules])
            #expect(result.status != 0)
            #expect(result.stderr.contains(message), "stderr was: \(result.stderr)")
            #expect(!result.stderr.contains("NSCocoaErrorDomain"))
        }
    }
}

/// EVE alerts carry their transaction as Suricata's do, checked against tshark's dissector.
@Suite("EVE alerts with their transaction")
struct EVETransactionTests {
    @Test("an alert on an HTTP request names its host, URL and method as tshark reads them")
    func httpObject() throws {
        try #require(installed("tshark"), "tshark is the oracle")
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.flows = 30
        profile.applications = [.http, .dns]
        try generate(profile, to: scratch.file("in.pcap"))
        try """
        alert http any any -> any any (msg:"POST"; http.method; content:"POST"; sid:1;)
        alert dns any any -> any any (msg:"query"; dns.query; content:"example"; sid:2;)
        """.write(toFile: scratch.file("app.rules"), atomically: true, encoding: .utf8)
        let result = try run([try agentCommand(), "replay", "--pcap", scratch.file("in.pcap"), "--rules", scratch.file("app.rules"),
                              "--eve", scratch.file("eve.json")])
        #expect(result.status == 0, "\(result.stderr)")
        let alerts = try parseJSONLines(scratch.file("eve.json"))
        let http = alerts.compactMap { $0["http"] as? [String: Any] }
        let dns = alerts.compactMap { ($0["dns"] as? [String: Any])?["query"] as? [[String: Any]] }.flatMap { $0 }
        #expect(!http.isEmpty && !dns.isEmpty)
        let tshark = try run(["tshark", "-r", scratch.file("in.pcap"), "-Y", "http.request", "-T", "fields",
                              "-e", "http.host", "-e", "http.request.uri", "-e", "http.request.method"])
        let theirs = Set(String(decoding: tshark.stdout, as: UTF8.self).split(separator: "\n").map(String.init))
        let ours = Set(http.map { "\($0["hostname"] as? String ?? "")\t\($0["url"] as? String ?? "")\t\($0["http_method"] as? String ?? "")" })
        #expect(ours == theirs)
        let names = try run(["tshark", "-r", scratch.file("in.pcap"), "-Y", "dns.flags.response == 0", "-T", "fields", "-e", "dns.qry.name"])
        let queried = Set(String(decoding: names.stdout, as: UTF8.self).split(separator: "\n").map(String.init))
        #expect(Set(dns.compactMap { $0["rrname"] as? String }).isSubset(of: queried))
        #expect(alerts.allSatisfy { $0["app_proto"] as? String == ($0["http"] != nil ? "http" : "dns") })
    }

    @Test("--out-pcap writes what the chain forwards: tshark reads the input less the dropped flows, in order")
    func outputCapture() throws {
        try #require(installed("tshark"), "tshark is the oracle")
        let scratch = try ScratchDirectory()
        var profile = TrafficProfile()
        profile.flows = 50
        profile.applications = [.http, .ssh, .dns]
        try generate(profile, to: scratch.file("in.pcap"))
        try writeFirewallChain(to: scratch.file("edge.yaml"), name: "edge", stack: "l2l3", droppingPort: 22)
        let result = try run([try agentCommand(), "replay", "--pcap", scratch.file("in.pcap"), "--chain", scratch.file("edge.yaml"),
                              "--out-pcap", scratch.file("out.pcap")])
        #expect(result.status == 0, "\(result.stderr)")
        func frames(_ path: String, _ filter: String?) throws -> [String] {
            let tshark = try run(["tshark", "-n", "-r", path, "-T", "fields", "-e", "frame.len", "-e", "ip.src", "-e", "tcp.srcport",
                                  "-e", "udp.srcport", "-e", "tcp.seq_raw"] + (filter.map { ["-Y", $0] } ?? []))
            return String(decoding: tshark.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        let kept = try frames(scratch.file("in.pcap"), "!(tcp.port == 22)")
        #expect(try frames(scratch.file("in.pcap"), "tcp.port == 22").count > 10, "the capture has SSH flows to drop")
        #expect(try frames(scratch.file("out.pcap"), nil) == kept)
        let refused = try run([try agentCommand(), "replay", "--dpdk", "--no-pci", "--out-pcap", scratch.file("x.pcap")])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--out-pcap needs --pcap"), "stderr was: \(refused.stderr)")
    }
}

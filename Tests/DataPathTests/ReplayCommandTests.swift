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
        (["--pcap", "/etc/os-release", "--overlap", "middle"], "--overlap must be 'first' or 'last'"),
        (["--pcap", "/etc/os-release", "--flow-capacity", "0"], "--flow-capacity"),
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

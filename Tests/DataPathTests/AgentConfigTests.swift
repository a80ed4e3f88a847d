import Foundation
import MBoxTrafficGen
import Testing

@Suite("mbox-agent run --config")
struct AgentConfigTests {
    @Test("the settings file runs the agent as the same options on the command line would; the command line overrides it")
    func settingsFile() throws {
        let scratch = try ScratchDirectory()
        let profile = TrafficProfile(seed: 44, flows: 80, attack: "UNION SELECT", attackShare: 0.3)
        _ = try generate(profile, to: scratch.file("in.pcap"))
        let rules = packageRoot + "/rules/web-attacks.rules"
        try """
        # an operator's agent settings
        pcap: \(scratch.file("in.pcap"))
        rules: \(rules)
        eve: \(scratch.file("file.json"))
        duration: 30
        flow_capacity: 4096
        no-reassembly: false
        """.write(toFile: scratch.file("agent.yaml"), atomically: true, encoding: .utf8)
        let oracle = try run([try agentCommand(), "replay", "--pcap", scratch.file("in.pcap"), "--rules", rules, "--eve", scratch.file("oracle.json")])
        #expect(oracle.status == 0, "\(oracle.stderr)")
        // --duration on the command line wins over the file's 30 s.
        let started = Date()
        let configured = try run([try agentCommand(), "run", "--config", scratch.file("agent.yaml"), "--duration", "0.3"])
        #expect(configured.status == 0, "\(configured.stderr)")
        #expect(Date().timeIntervalSince(started) < 20, "the command line's --duration applies")
        let expected = try alertSet(scratch.file("oracle.json"))
        #expect(expected.count > 10)
        #expect(try alertSet(scratch.file("file.json")) == expected)
    }

    @Test("every option of run can be a setting: none is refused as unknown (the options as run --experimental-dump-help lists them)")
    func everyOptionIsASetting() throws {
        let dump = try run([try agentCommand(), "run", "--experimental-dump-help"])
        #expect(dump.status == 0, "\(dump.stderr)")
        let tool = try #require(try JSONSerialization.jsonObject(with: dump.stdout) as? [String: Any])
        let arguments = try #require((tool["command"] as? [String: Any])?["arguments"] as? [[String: Any]])
        var settings: [String] = []
        for argument in arguments {
            guard let name = (argument["names"] as? [[String: Any]])?.first(where: { $0["kind"] as? String == "long" })?["name"] as? String,
                  !["help", "config"].contains(name) else { continue }
            settings.append("\(name): \(argument["kind"] as? String == "flag" ? "true" : "1")")
        }
        #expect(settings.count > 25)
        let scratch = try ScratchDirectory()
        try settings.joined(separator: "\n").write(toFile: scratch.file("agent.yaml"), atomically: true, encoding: .utf8)
        // Every setting at once makes no sense as a run (the merged options are refused),
        // but none may be refused as a setting.
        let result = try run([try agentCommand(), "run", "--config", scratch.file("agent.yaml")])
        #expect(result.status != 0)
        #expect(result.stderr.contains("agent.yaml with the command line:"), "\(result.stderr)")
        #expect(!result.stderr.contains("unknown setting"), "\(result.stderr)")
    }

    @Test("a setting the agent does not know, a value of the wrong kind, bad YAML or a bad merged option: file, line and why", arguments: [
        ("workerz: 2\n", "agent.yaml:1:1: unknown setting 'workerz'"),
        ("pcap: in.pcap\nworkers: many\n", "agent.yaml:2:10: 'workers' takes a number"),
        ("pcap: in.pcap\nwait-for-config: sometimes\n", "agent.yaml:2:18: 'wait-for-config' is true or false"),
        ("dpdk: [--no-pci\n", "agent.yaml:2: not valid YAML"),
        ("- pcap\n", "agent.yaml:1:1: an agent configuration is a mapping"),
        ("pcap: in.pcap\nworkers: 100\n", "agent.yaml with the command line: --workers must be 1–64"),
    ])
    func badSettings(_ text: String, _ message: String) throws {
        let scratch = try ScratchDirectory()
        try text.write(toFile: scratch.file("agent.yaml"), atomically: true, encoding: .utf8)
        let result = try run([try agentCommand(), "run", "--config", scratch.file("agent.yaml")])
        #expect(result.status == 1)
        #expect(result.stderr.contains(message), "\(result.stderr)")
    }
}

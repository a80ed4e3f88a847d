import Foundation
import MBoxChain
import MBoxDataPath
import MBoxTrafficGen
import Testing

/// The chain compiler narrows Signature_Match's subscriptions to what its rules can use;
/// the derived chain raises exactly the alerts of the exhaustive one (`derive: false`).
@Suite("Chains derived from the rules")
struct DerivedChainTests {
    static let exhaustive = packageRoot + "/chains/ids.yaml"

    func exhaustiveChain(_ directory: String) throws -> String {
        let text = try String(contentsOfFile: Self.exhaustive, encoding: .utf8)
            .replacingOccurrences(of: "mode: sequential", with: "mode: sequential\nderive: false")
        try text.write(toFile: directory + "/exhaustive.yaml", atomically: true, encoding: .utf8)
        return directory + "/exhaustive.yaml"
    }

    @Test("derived ≡ exhaustive on every rule set and capture here", arguments: 0..<3)
    func sameAlerts(index: Int) throws {
        let scratch = try Scratch("derived")
        let directory = scratch.path
        defer { withExtendedLifetime(scratch) {} }
        try KeywordOracleTests.rules.write(toFile: directory + "/keywords.rules", atomically: true, encoding: .utf8)
        let capture = try MemoryCapture(KeywordOracleTests.profile(index))
        for rules in [webRules, directory + "/keywords.rules"] {
            let derived = try agentAlerts(capture: capture, rules: rules)
            let full = try agentAlerts(capture: capture, rules: rules, chain: try exhaustiveChain(directory))
            #expect(!full.directed.isEmpty)
            #expect(derived.directed == full.directed)
            #expect(derived.perSID == full.perSID)
        }
    }

    @Test("rules that read only what clients send: only the client's stream is reassembled")
    func clientStreamOnly() throws {
        let scratch = try Scratch("derived")
        let directory = scratch.path
        defer { withExtendedLifetime(scratch) {} }
        try """
        alert tcp any any -> any any (msg:"a"; flow:established,to_server; content:"UNION SELECT"; sid:1;)
        alert udp any any -> any 53 (msg:"b"; content:"|01 00|"; sid:2;)
        """.write(toFile: directory + "/client.rules", atomically: true, encoding: .utf8)
        try KeywordOracleTests.rules.write(toFile: directory + "/keywords.rules", atomically: true, encoding: .utf8)
        let definition = try ChainParser().parse(file: Self.exhaustive)
        func reassembles(_ rules: String) throws -> (Bool, Bool) {
            let compiled = try ChainCompiler().compile(definition, resources: BuildResources(rulesOverride: rules))
            let pipeline = try compiled.makePipeline(configuration: DataPathConfiguration())
            let reassembly = try #require(pipeline.dataPath.configuration.reassembly)
            return (reassembly.toServer, reassembly.toClient)
        }
        #expect(try reassembles(directory + "/client.rules") == (true, false))
        // Application-layer rules need both: protocols are detected from either side.
        #expect(try reassembles(directory + "/keywords.rules") == (true, true))
    }
}

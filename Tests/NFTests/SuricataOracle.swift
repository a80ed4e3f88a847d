import Foundation
import MBoxChain
import MBoxDataPath
import MBoxNFs
import MBoxPacket
import MBoxTrafficGen
import Testing

/// Alerts as comparable keys: (sid, direction-free flow) and (sid, flow, direction).
struct AlertKeys {
    var flows = Set<String>()
    var directed = Set<String>()
    var perSID: [Int: Int] = [:]

    /// Suricata writes IPv6 in full; compare canonical forms. Endpoints sorted for `flows`.
    mutating func add(sid: Int, source: String, sourcePort: Int, destination: String, destinationPort: Int) {
        func canonical(_ text: String) -> String { IPAddress(text)?.description ?? text }
        let from = "\(canonical(source))|\(sourcePort)", to = "\(canonical(destination))|\(destinationPort)"
        let ends = [from, to].sorted()
        flows.insert("\(sid) \(ends[0]) \(ends[1])")
        directed.insert("\(sid) \(from) > \(to)")
        perSID[sid, default: 0] += 1
    }
}

/// Runs `suricata -r capture -S rules` and reads its alerts.
func suricataAlerts(capture: String, rules: String, directory: String, thresholdConfig: String? = nil,
                    arguments: [String] = []) throws -> AlertKeys {
    try FileManager.default.createDirectory(atPath: directory + "/suricata", withIntermediateDirectories: true)
    let suricata = Process()
    suricata.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    suricata.arguments = ["suricata", "-r", capture, "-S", rules, "-l", directory + "/suricata", "-k", "none",
                          "--runmode", "single"] + arguments + (thresholdConfig.map { ["--set", "threshold-file=\($0)"] } ?? [])
    suricata.standardOutput = FileHandle.nullDevice
    suricata.standardError = FileHandle.nullDevice
    try suricata.run()
    suricata.waitUntilExit()
    try #require(suricata.terminationStatus == 0)
    let log = (try? String(contentsOfFile: directory + "/suricata/suricata.log", encoding: .utf8)) ?? ""
    #expect(!log.contains("error parsing signature"), "Suricata refused a rule: \(log.split(separator: "\n").filter { $0.contains("Error") }.prefix(3))")
    var keys = AlertKeys()
    for line in try String(contentsOfFile: directory + "/suricata/eve.json", encoding: .utf8).split(separator: "\n") {
        let event = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
        guard event["event_type"] as? String == "alert", let alert = event["alert"] as? [String: Any] else { continue }
        keys.add(sid: alert["signature_id"] as! Int, source: event["src_ip"] as! String, sourcePort: event["src_port"] as? Int ?? 0,
                 destination: event["dest_ip"] as! String, destinationPort: event["dest_port"] as? Int ?? 0)
    }
    return keys
}

/// Runs the agent's default IDS chain (chains/ids.yaml) over `capture` with `rules`.
func agentAlerts(capture: MemoryCapture, rules: String, chain: String = packageRoot + "/chains/ids.yaml",
                 thresholdConfig: String? = nil, configuration: DataPathConfiguration = DataPathConfiguration()) throws -> AlertKeys {
    let definition = try ChainParser().parse(file: chain)
    let resources = BuildResources(rulesOverride: rules, thresholdConfig: thresholdConfig)
    let compiled = try ChainCompiler().compile(definition, resources: resources)
    for (_, engine) in resources.loadedEngines { #expect(engine.problems.isEmpty, "refused: \(engine.problems)") }
    let pipeline = try compiled.makePipeline(configuration: configuration)
    var keys = AlertKeys()
    func collect() {
        pipeline.chain.forEachAlert { alert, rule, flow in
            let toServer = alert.cause == .client
            keys.add(sid: Int(rule.sid), source: "\(toServer ? flow.client : flow.server)",
                     sourcePort: Int(toServer ? flow.clientPort : flow.serverPort),
                     destination: "\(toServer ? flow.server : flow.client)",
                     destinationPort: Int(toServer ? flow.serverPort : flow.clientPort))
        }
    }
    var last: UInt64 = 0
    for packet in capture.packets {
        _ = pipeline.process(packet)
        collect()
        last = packet.timestamp
    }
    pipeline.finish(timestamp: last)
    collect()
    return keys
}

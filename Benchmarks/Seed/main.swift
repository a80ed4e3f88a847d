// Reproduces the seed's two experiments in one run, on a generated capture replayed from
// memory (release build, one core for the data path):
//
// 1. Configurations 1–5 of the DPI + Signature_Match chain: packets/s, events delivered,
//    alerts, and the ratio to configuration 1.
// 2. The IDS+Mon chain (Firewall, DPI, Signature_Match, Flow_Stats, Logger) in its
//    Default, DPI_DETECT, LONG_FLOW and both variants: mean and p99 latency per packet,
//    sequential vs parallel.
// 3. Side by side with Suricata (`--runmode single`) on the same capture file and rules,
//    both as whole commands timed from outside.
//
//   swift run -c release mbox-bench-seed [--packets N] [--runs R] [--no-suricata] [--rules FILE]
//
// `--rules` replaces rules/web-attacks.rules, e.g. with a realistic generated set
// (`python3 Benchmarks/generate-rules.py > generated.rules`), so Signature_Match costs
// what it costs with the rule sets operators run.

import Foundation
import MBoxCapture
import MBoxChain
import MBoxDataPath
import MBoxNFRunner
import MBoxNFs
import MBoxTrafficGen

struct Options {
    var packets = 500_000
    var runs = 5
    var suricata = true
    /// Run only this experiment (1, 2 or 3).
    var experiment: Int?
    var rules: String?

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--packets": packets = Int(iterator.next() ?? "") ?? packets
            case "--runs": runs = Int(iterator.next() ?? "") ?? runs
            case "--no-suricata": suricata = false
            case "--experiment": experiment = Int(iterator.next() ?? "")
            case "--rules": rules = iterator.next()
            default:
                FileHandle.standardError.write(Data("usage: mbox-bench-seed [--packets N] [--runs R] [--no-suricata] [--experiment 1|2|3] [--rules FILE]\n".utf8))
                exit(2)
            }
        }
    }
}

let options = Options(CommandLine.arguments)
let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
let rules = options.rules.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? root + "/rules/web-attacks.rules"

// HTTP-heavy traffic: 5 in 7 flows are HTTP POSTs (2% of them carry "UNION SELECT" split
// across two segments), the rest TLS and SSH; ~10 packets per flow.
var profile = TrafficProfile()
profile.seed = 2018
profile.applications = [.http, .http, .tls, .http, .ssh, .http, .http]
profile.flows = options.packets / 10
profile.concurrency = 64
profile.attack = "UNION SELECT"
profile.attackShare = 0.02
profile.attackSegments = 2
profile.requestBodySize = 64
profile.responseBodySize = 700
let writer = try PcapWriter(.memory)
let generated = try TrafficGenerator(profile: profile).write(to: writer)
let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: writer.memory.count, alignment: 64)
writer.memory.withUnsafeBytes { storage.copyMemory(from: $0) }
var packets: [CapturedPacket] = []
let reader = try CaptureFileReader(bytes: UnsafeRawBufferPointer(storage))
while let packet = try reader.next() { packets.append(packet) }
let totalBytes = packets.reduce(0) { $0 + $1.data.count }

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func compile(_ file: String, mode: ChainDefinition.Mode? = nil) throws -> CompiledChain {
    var definition = try ChainParser().parse(file: root + "/chains/" + file)
    if let mode { definition.mode = mode }
    return try ChainCompiler().compile(definition, resources: BuildResources(rulesOverride: rules))
}

struct Run {
    var seconds: Double
    var delivered: UInt64
    var alerts: Int
    var latency: LatencyRecorder?
}

@MainActor
func replay(_ chain: CompiledChain, measureLatency: Bool) throws -> Run {
    var configuration = DataPathConfiguration()
    configuration.flowTable = .init(capacity: 1 << 17)
    let pipeline = try chain.makePipeline(configuration: configuration)
    if measureLatency { pipeline.latency = LatencyRecorder() }
    var alerts = 0
    let start = now()
    for packet in packets {
        _ = pipeline.process(packet)
        alerts += pipeline.chain.alerts.count
    }
    pipeline.finish(timestamp: packets.last?.timestamp ?? 0)
    alerts += pipeline.chain.alerts.count
    let seconds = Double(now() - start) / 1e9
    return Run(seconds: seconds, delivered: pipeline.chain.counters.totalDelivered, alerts: alerts, latency: pipeline.latency)
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

print("mbox-bench-seed: \(packets.count) packets, \(totalBytes) bytes, \(generated.tcpFlows) TCP flows "
      + "(\(generated.attackFlows.count) with an attack split across 2 segments), rules \(rules.split(separator: "/").last!), "
      + "median of \(options.runs) interleaved rounds, release build")
print("")

func runs(_ experiment: Int) -> Bool { options.experiment == nil || options.experiment == experiment }

// 1. Configurations 1–5.
if runs(1) {
let configurations = try (1...5).map { try compile("seed/config\($0).yaml") }
var rounds = [[Run]](repeating: [], count: configurations.count)
for _ in 0..<options.runs {
    for (index, chain) in configurations.enumerated() { rounds[index].append(try replay(chain, measureLatency: false)) }
}
let seconds = rounds.map { median($0.map(\.seconds)) }
print("Experiment 1: DPI + Signature_Match (paper: config 3 = 2.6x config 1, config 4 ~ 5x config 3, reassembly ~15 % overhead)")
print("")
print("| config | what changes                                  |   Mpps | events delivered | alerts | vs config 1 |")
print("|-------:|-----------------------------------------------|-------:|-----------------:|-------:|------------:|")
let descriptions = ["PKT/TCP, every stack update (2 per packet)", "only updates caused by client packets",
                    "only the server stack, client packets", "+ dynamic: DPI_DETECT, leave flow on alert",
                    "+ reassembly: DATA_RDY streams"]
for index in 0..<5 {
    let mpps = Double(packets.count) / seconds[index] / 1e6
    let text = descriptions[index].padding(toLength: 45, withPad: " ", startingAt: 0)
    print("| \(index + 1)      | \(text) |" + String(format: " %6.2f | %16llu | %6d | %10.2fx |", mpps,
          rounds[index][0].delivered, rounds[index][0].alerts, seconds[0] / seconds[index]))
}
print(String(format: "\nratios: config3/config1 %.2fx, config4/config3 %.2fx, config5 vs config4 %+.0f %% time (reassembly)",
             seconds[0] / seconds[2], seconds[2] / seconds[3], (seconds[4] / seconds[3] - 1) * 100))
print("")
}

// 2. IDS+Mon, sequential vs parallel.
if runs(2) {
print("Experiment 2: IDS+Mon latency per packet, arrival to verdict (paper: parallel 3-13 % lower)")
print("")
print("| variant     | sequential mean / p99 (ns) | parallel mean / p99 (ns) | parallel vs sequential (mean) | stages (parallel) |")
print("|-------------|---------------------------:|-------------------------:|------------------------------:|-------------------|")
for variant in ["default", "dpi-detect", "long-flow", "both"] {
    let sequential = try compile("seed/idsmon-\(variant).yaml", mode: .sequential)
    let parallel = try compile("seed/idsmon-\(variant).yaml", mode: .parallel)
    var results: [[LatencyRecorder]] = [[], []]
    for _ in 0..<max(1, options.runs / 2) {
        results[0].append(try replay(sequential, measureLatency: true).latency!)
        results[1].append(try replay(parallel, measureLatency: true).latency!)
    }
    let pick = results.map { runs in runs.sorted { $0.mean < $1.mean }[runs.count / 2] }
    let stages = parallel.stages.map { $0.map { parallel.definition.functions[$0].name }.joined(separator: "+") }.joined(separator: " > ")
    print("| \(variant.padding(toLength: 11, withPad: " ", startingAt: 0)) |"
          + String(format: " %12.0f / %11llu | %11.0f / %11llu | %+28.1f %% |", pick[0].mean, pick[0].percentile(0.99),
                   pick[1].mean, pick[1].percentile(0.99), (pick[1].mean / pick[0].mean - 1) * 100) + " \(stages) |")
}
print("")
}

// 3. Suricata side by side, whole commands on the same file.
if options.suricata, runs(3) {
    let directory = NSTemporaryDirectory() + "mbox-bench-seed-\(getpid())"
    try FileManager.default.createDirectory(atPath: directory + "/suricata", withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let pcap = directory + "/seed.pcap"
    try Data(writer.memory).write(to: URL(fileURLWithPath: pcap))
    func timed(_ arguments: [String]) throws -> (Double, Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let start = now()
        try process.run()
        process.waitUntilExit()
        return (Double(now() - start) / 1e9, process.terminationStatus)
    }
    let agent = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path + "/mbox-agent"
    var ours: [Double] = [], theirs: [Double] = []
    var suricataOK = true
    for _ in 0..<3 {
        let (agentSeconds, agentStatus) = try timed([agent, "replay", "--pcap", pcap, "--rules", rules,
                                                     "--chain", root + "/chains/seed/config5.yaml", "--eve", directory + "/agent.json"])
        guard agentStatus == 0 else { print("mbox-agent failed (build it: swift build -c release)"); break }
        ours.append(agentSeconds)
        let (suricataSeconds, status) = try timed(["suricata", "--runmode", "single", "-r", pcap, "-S", rules,
                                                   "-l", directory + "/suricata", "-k", "none"])
        if status != 0 { suricataOK = false; break }
        theirs.append(suricataSeconds)
    }
    if !ours.isEmpty, suricataOK, !theirs.isEmpty {
        print("Side by side, whole commands on the same \(packets.count)-packet file (wall clock, median of 3, startup included):")
        print("")
        print("| command                                                   |  seconds |   kpps |")
        print("|-----------------------------------------------------------|---------:|-------:|")
        print("| mbox-agent replay --chain seed/config5.yaml --rules --eve |" + String(format: " %8.3f | %6.0f |", median(ours), Double(packets.count) / median(ours) / 1e3))
        print("| suricata --runmode single -r -S -k none                   |" + String(format: " %8.3f | %6.0f |", median(theirs), Double(packets.count) / median(theirs) / 1e3))
        print(String(format: "\nmbox-agent / suricata: %.1fx", median(theirs) / median(ours)))
    } else {
        print("Suricata not run (not installed or failed; scripts/setup.sh installs it)")
    }
}

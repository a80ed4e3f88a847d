import ArgumentParser
import Foundation
import MBoxCapture
import MBoxChain
import MBoxDataPath
import MBoxDPDK
import MBoxNFRunner
import MBoxNFs
import MBoxPacket
import MBoxDetect
import MBoxTCPMonitor

/// How the data path is sized and how it reassembles.
struct StackOptions: ParsableArguments {
    @Option(help: "Overlapping TCP segments with different bytes held out of order: 'host' (default) as each receiving host's --host-os-policy says; or for every host 'first' (the bytes received first stay), 'last', 'bsd', 'linux', 'windows', 'solaris'.")
    var overlap: String = "host"

    @Option(help: "Most flows tracked at once.")
    var flowCapacity: Int = 262_144

    @Option(help: "Seconds (of packet time) after which an idle flow is expired.")
    var idleTimeout: Double = 120

    @Option(help: "Out-of-order bytes buffered per flow direction.")
    var reassemblyFlowLimit: Int = 256 * 1024

    @Option(help: "Out-of-order bytes buffered for all flows together.")
    var reassemblyGlobalLimit: Int = 256 * 1024 * 1024

    @Flag(help: "Track TCP state without reassembling streams.")
    var noReassembly = false

    @Option(help: "TCP checksums of data segments: 'auto' (default: checked, given up when over a tenth of the first 1,000 are wrong, as on a host that offloads them), 'yes' or 'no'. A segment with a wrong one is not stream data.")
    var checksumValidation: String = DataPathConfiguration.ChecksumValidation.auto.rawValue

    @Option(help: ArgumentHelp("How a host's stack resolves overlapping IP fragments: POLICY=PREFIX[,PREFIX…] (first, last, bsd, linux, windows, solaris, or Suricata's OS names), repeatable, longest prefix wins. Without it, as Suricata ships: windows=0.0.0.0/0, bsd for the rest.",
                               valueName: "policy=prefixes"))
    var hostOsPolicy: [String] = []

    @Option(help: "Tunnels (GRE, VXLAN, GENEVE, IP in IP, Teredo) opened to reach the inner flow, 0 to 16; 0 tracks the outer packets as they are.")
    var tunnelDepth: Int = 4

    @Option(help: "Seconds (of packet time) a fragmented datagram may take to complete.")
    var defragTimeout: Double = 60

    @Option(help: "Most fragment bytes held for datagrams in progress.")
    var defragMemcap: Int = 32 * 1024 * 1024

    func validate() throws {
        _ = try hostPolicies()
        guard (0...16).contains(tunnelDepth) else { throw ValidationError("--tunnel-depth must be between 0 and 16") }
        guard defragTimeout > 0, defragTimeout <= 86_400 else { throw ValidationError("--defrag-timeout must be between 0 and 86400 seconds") }
        guard defragMemcap >= 65_535, defragMemcap <= Int(ProcessInfo.processInfo.physicalMemory) / 2 else {
            throw ValidationError("--defrag-memcap must be at least 65535 bytes and at most half this machine's memory")
        }
        guard overlap == "host" || TargetPolicy(name: overlap) != nil else {
            throw ValidationError("--overlap must be first, last, bsd, linux, windows, solaris or host, not '\(overlap)'")
        }
        guard flowCapacity > 0, flowCapacity <= 16_000_000 else {
            throw ValidationError("--flow-capacity must be between 1 and 16000000")
        }
        guard idleTimeout > 0 else { throw ValidationError("--idle-timeout must be positive") }
        guard DataPathConfiguration.ChecksumValidation(rawValue: checksumValidation) != nil else {
            throw ValidationError("--checksum-validation must be 'auto', 'yes' or 'no', not '\(checksumValidation)'")
        }
        guard reassemblyFlowLimit >= 2048, reassemblyGlobalLimit >= reassemblyFlowLimit else {
            throw ValidationError("reassembly limits must be at least 2048 bytes, the global one no less than the per-flow one")
        }
        // The store is allocated up front: more than the machine's memory cannot be had.
        let memory = Int(ProcessInfo.processInfo.physicalMemory)
        guard reassemblyGlobalLimit <= memory / 2 else {
            throw ValidationError("--reassembly-global-limit \(reassemblyGlobalLimit) is more than half this machine's memory "
                + "(\(memory >> 20) MiB); the store is allocated when the agent starts")
        }
    }

    var dataPathConfiguration: DataPathConfiguration {
        var configuration = DataPathConfiguration()
        configuration.flowTable = .init(capacity: flowCapacity, idleTimeoutSeconds: idleTimeout)
        configuration.checksumValidation = DataPathConfiguration.ChecksumValidation(rawValue: checksumValidation) ?? .auto
        configuration.defragmentation.policies = (try? hostPolicies()) ?? DefragmentationConfiguration.shippedPolicies
        configuration.defragmentation.timeoutNanoseconds = UInt64(defragTimeout * 1e9)
        configuration.tunnelDepth = UInt8(tunnelDepth)
        configuration.defragmentation.memoryLimit = defragMemcap
        if noReassembly {
            configuration.reassembly = nil
        } else {
            var reassembly = ReassemblyConfiguration()
            reassembly.overlapPolicy = TargetPolicy(name: overlap) ?? .first
            configuration.streamPolicies = overlap == "host" ? (try? hostPolicies()) ?? DefragmentationConfiguration.shippedPolicies : nil
            reassembly.perDirectionLimit = reassemblyFlowLimit
            reassembly.globalLimit = reassemblyGlobalLimit
            configuration.reassembly = reassembly
        }
        return configuration
    }
}

extension StackOptions {
    /// `--host-os-policy` as a table; Suricata's shipped one when none is given.
    func hostPolicies() throws -> HostPolicies {
        guard !hostOsPolicy.isEmpty else { return DefragmentationConfiguration.shippedPolicies }
        var policies = HostPolicies(default: .bsd)
        for specification in hostOsPolicy {
            do { try policies.add(specification: specification) } catch { throw ValidationError("--host-os-policy: \(error)") }
        }
        return policies
    }
}

/// Which NF chain runs, and where its alerts go.
struct ChainOptions: ParsableArguments {
    @Option(help: "Suricata-style rules file for Signature_Match (overrides the chain's 'rules').")
    var rules: String?

    @Option(help: "A Suricata threshold.config (threshold, event_filter, suppress) applied to the rules.")
    var thresholdConfig: String?

    @Option(help: "Chain definition (YAML); without it, --rules runs the built-in IDS chain.")
    var chain: String?

    @Option(help: "Run the chain's NFs 'sequential' or 'parallel' (overrides the chain file).")
    var mode: String?

    @Option(help: "Write alerts here as Suricata EVE JSON lines.")
    var eve: String?

    @Flag(help: "With --eve, also write an EVE 'anomaly' record for each decoder or stream anomaly (as Suricata's anomaly logger with its decode and stream types on).")
    var eveAnomalies = false

    func validate() throws {
        if let mode, ChainDefinition.Mode(rawValue: mode) == nil {
            throw ValidationError("--mode must be 'sequential' or 'parallel', not '\(mode)'")
        }
        if eveAnomalies, eve == nil { throw ValidationError("--eve-anomalies writes into the --eve file: give --eve") }
        if eve != nil || mode != nil, rules == nil, chain == nil {
            throw ValidationError("--eve and --mode need a chain: give --rules and/or --chain")
        }
    }

    var wanted: Bool { rules != nil || chain != nil }

    /// The chain, parsed, checked and compiled into a pipeline for a replay; rule problems
    /// go to stderr.
    func makePipeline(_ configuration: DataPathConfiguration, keepBothStreams: Bool,
                      launcher: HelperLauncher = .threads) throws -> Pipeline? {
        guard let compiled = try compile() else { return nil }
        try Self.refuseSplicer(compiled)
        return try compiled.makePipeline(configuration: configuration, keepBothStreams: keepBothStreams, launcher: launcher)
    }

    /// A replay cannot answer the recorded clients, nor rewrite a mapped capture.
    static func refuseSplicer(_ compiled: CompiledChain) throws {
        if compiled.definition.usesSplicer {
            throw AgentError("the chain's TCP Splicer answers live clients; a replay cannot: use 'mbox-agent run --dpdk'")
        }
    }

    /// The chain, parsed, checked and compiled once (each worker makes its pipeline from it).
    func compile() throws -> CompiledChain? {
        guard wanted else { return nil }
        var definition: ChainDefinition
        do {
            definition = try chain.map { try ChainParser().parse(file: $0) }
                ?? ChainParser().parse(DefaultChain.yaml, file: DefaultChain.file)
            if let mode { definition.mode = ChainDefinition.Mode(rawValue: mode)! }
        } catch {
            throw AgentError("\(error)")
        }
        if let rules, !FileManager.default.isReadableFile(atPath: rules) {
            throw AgentError("cannot read rules file \(rules)")
        }
        if let thresholdConfig, !FileManager.default.isReadableFile(atPath: thresholdConfig) {
            throw AgentError("cannot read threshold config \(thresholdConfig)")
        }
        let resources = BuildResources(rulesOverride: rules, thresholdConfig: thresholdConfig)
        let compiled: CompiledChain
        do {
            compiled = try ChainCompiler().compile(definition, resources: resources)
        } catch {
            throw AgentError("\(error)")
        }
        for (path, engine) in resources.loadedEngines {
            var line = "rules        \(path): \(engine.rules.count) loaded"
            if !engine.problems.isEmpty { line += ", \(engine.problems.count) not loaded:" }
            FileHandle.standardError.write(Data((line + "\n").utf8))
            for problem in engine.problems {
                FileHandle.standardError.write(Data("  \(problem)\n".utf8))
            }
            if engine.rules.isEmpty, !engine.problems.isEmpty {
                throw AgentError("no rule of \(path) could be loaded (\(engine.problems.count) refused)")
            }
        }
        return compiled
    }

    func openEVE() throws -> EVEWriter? {
        try eve.map { path in
            do { return try EVEWriter(path: path, anomalies: eveAnomalies) } catch { throw AgentError("\(error)") }
        }
    }
}

/// The DPDK ports the agent reads (and, inline, writes).
struct DPDKOptions: ParsableArguments {
    @Option(parsing: .unconditional,
            help: ArgumentHelp("EAL arguments, e.g. \"--no-huge -m 512 --no-pci --vdev=net_pcap0,rx_pcap=in.pcap\" (real NICs: -a PCI_ADDRESS).",
                               valueName: "eal-arguments"))
    var dpdk: String?

    @Option(help: "DPDK port to read (device name, e.g. net_pcap0 or a PCI address); the first one by default.")
    var port: String?

    @Option(help: "Inline mode: forward packets the chain lets through to this DPDK port (dropped ones are freed).")
    var outPort: String?

    @Option(help: "Worker threads, each with its own flow table and chain; flows are spread by a symmetric hash.")
    var workers: Int = 1

    @Flag(help: "With --workers, spread packets in software even when the ports have RSS.")
    var noRss = false

    @Option(help: ArgumentHelp("Benchmarks on net_null ports, which never write packet data: their packets carry the frames of this capture (in turn) instead of zeros. Frames are cut to net_null's size= (64 bytes by default).",
                               valueName: "capture"))
    var nullFrames: String?

    /// Starts EAL and opens the ports: with several workers and ports that can spread that
    /// many queues by RSS, one queue pair per worker (`rss` true); otherwise one queue.
    func open() throws -> (input: DPDKPort, output: DPDKPort?, rss: Bool) {
        do {
            try EAL.start(dpdk!.split(separator: " ").map(String.init))
            let rss = workers > 1 && !noRss && DPDKPort.rssQueues(name: port) >= workers
                && (outPort.map { DPDKPort.rssQueues(name: $0) >= workers } ?? true)
            let queues = rss ? workers : 1
            let input = try DPDKPort(name: port, queues: queues)
            let output = try outPort.map { try DPDKPort(name: $0, queues: queues) }
            if let nullFrames { try preload(nullFrames, into: [input] + (output.map { [$0] } ?? [])) }
            return (input, output, rss)
        } catch {
            throw AgentError("\(error)")
        }
    }
}

extension DPDKOptions {
    private func preload(_ path: String, into ports: [DPDKPort]) throws {
        var frames: [[UInt8]] = []
        do {
            let reader = try CaptureFileReader(path: path)
            while frames.count < 65_536, let packet = try reader.next() {
                guard packet.linkType == .ethernet else { throw AgentError("\(path): --null-frames needs Ethernet frames") }
                frames.append(Array(packet.data))
            }
        } catch let error as AgentError {
            throw error
        } catch {
            throw AgentError("\(path): \(error)")
        }
        guard !frames.isEmpty else { throw AgentError("\(path): no frames to preload") }
        let nullPorts = ports.filter { $0.name.hasPrefix("net_null") }
        guard !nullPorts.isEmpty else { throw AgentError("--null-frames applies to net_null ports only") }
        for port in nullPorts { port.preload(frames: frames) }
    }
}

/// A failure while running (not a usage mistake): printed as is, exit status 1.
struct AgentError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

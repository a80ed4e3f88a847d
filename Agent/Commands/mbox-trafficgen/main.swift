import ArgumentParser
import Foundation
import MBoxCapture
import MBoxTrafficGen

/// `mbox-trafficgen`: writes a deterministic capture for tests and benchmarks.
struct TrafficGen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mbox-trafficgen",
        abstract: "Write a deterministic pcap of HTTP, TLS, SSH and DNS flows, with optional evasions and damage.")

    @Option(name: .shortAndLong, help: "Output pcap file.")
    var output: String
    @Option(help: "Number of flows.") var flows = 100
    @Option(help: "Random seed (same seed, same file).") var seed: UInt64 = 1
    @Option(help: "Comma-separated applications: http,tls,ssh,dns.") var applications = "http,tls,ssh,dns"
    @Option(help: "Flows in progress at once (their packets interleave).") var concurrency = 16
    @Option(help: "Chance a data segment is swapped with the next.") var outOfOrder = 0.0
    @Option(help: "Chance a data segment is retransmitted.") var retransmit = 0.0
    @Option(help: "Chance a retransmission overlaps two segments.") var overlap = 0.0
    @Option(help: "Chance a data segment is lost before the capture (a gap).") var lost = 0.0
    @Flag(help: "Cut data into 1–16-byte segments.") var tinySegments = false
    @Flag(help: "Start sequence numbers just below 2^32.") var sequenceWrap = false
    @Option(help: "Share of flows over IPv6 (0–1).") var ipv6 = 0.0
    @Option(help: "Comma-separated VLAN IDs on every frame (two for QinQ).") var vlan: String?
    @Option(help: "Chance per packet of a malformed packet before it.") var malformed = 0.0
    @Option(help: "String to place in HTTP requests (e.g. an attack).") var attack: String?
    @Option(help: "Share of HTTP requests carrying --attack.") var attackShare = 0.1
    @Option(help: "Segments the attack string is split across.") var attackSegments = 2
    @Option(help: "HTTP request body bytes.") var requestBody = 64
    @Option(help: "HTTP response / TLS server data bytes.") var responseBody = 1024

    func validate() throws {
        guard flows >= 0 else { throw ValidationError("--flows must not be negative") }
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        for (name, value) in [("out-of-order", outOfOrder), ("retransmit", retransmit), ("overlap", overlap),
                              ("lost", lost), ("ipv6", ipv6), ("malformed", malformed), ("attack-share", attackShare)]
        where !(0...1).contains(value) {
            throw ValidationError("--\(name) must be between 0 and 1")
        }
        _ = try parsedApplications()
        _ = try parsedVLANs()
        guard attackSegments >= 1 else { throw ValidationError("--attack-segments must be at least 1") }
    }

    func parsedApplications() throws -> [Application] {
        try applications.split(separator: ",").map {
            guard let application = Application(rawValue: String($0)) else {
                throw ValidationError("unknown application '\($0)'; use http, tls, ssh or dns")
            }
            return application
        }
    }

    func parsedVLANs() throws -> [UInt16] {
        guard let vlan else { return [] }
        let ids = try vlan.split(separator: ",").map {
            guard let id = UInt16($0), id < 4096 else { throw ValidationError("VLAN ID '\($0)' is not 0–4095") }
            return id
        }
        guard ids.count <= 2 else { throw ValidationError("at most two VLAN tags (QinQ)") }
        return ids
    }

    func run() throws {
        var profile = TrafficProfile()
        profile.seed = seed
        profile.flows = flows
        profile.applications = try parsedApplications()
        profile.concurrency = concurrency
        profile.outOfOrder = outOfOrder
        profile.retransmissions = retransmit
        profile.overlappingRetransmissions = overlap
        profile.lostSegments = lost
        profile.tinySegments = tinySegments
        profile.sequenceWrap = sequenceWrap
        profile.ipv6Share = ipv6
        profile.vlanIDs = try parsedVLANs()
        profile.malformed = malformed
        profile.attack = attack
        profile.attackShare = attackShare
        profile.attackSegments = attackSegments
        profile.requestBodySize = requestBody
        profile.responseBodySize = responseBody
        let writer = try PcapWriter(.file(path: output))
        let summary = try TrafficGenerator(profile: profile).write(to: writer)
        try writer.close()
        var line = "wrote \(output): \(summary.packets) packets, \(summary.bytes) bytes, "
            + "\(summary.tcpFlows) TCP flows, \(summary.udpFlows) UDP flows"
        if !summary.attackFlows.isEmpty { line += ", \(summary.attackFlows.count) with the attack string" }
        if !summary.malformed.isEmpty { line += ", \(summary.malformed.values.reduce(0, +)) malformed" }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}

TrafficGen.main()

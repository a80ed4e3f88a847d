import Foundation
import MBoxDataPath
import MBoxPacket
import MBoxTrafficGen
import Testing

/// Overlapping TCP segments put together per target policy, against Suricata with the same
/// `host-os-policy` for the server. Sturges and Novak's layout again (as for fragments), out
/// of order behind an 8-byte hole that is filled last, so every overlap is resolved while
/// the bytes are held; then the server acknowledges everything. One rule per possible
/// stream; the agent must raise the one Suricata raises (Suricata's stream engine has rules
/// of its own per OS, not its fragment ones: `TargetPolicy.newerSegmentWins`).
@Suite("TCP overlap policies against Suricata")
struct StreamPolicyOracleTests {
    static let client = Endpoint(address: [10, 7, 0, 1], port: 40_100, mac: [2, 0, 0, 0, 0, 1])
    static let server = Endpoint(address: [10, 7, 0, 2], port: 8080, mac: [2, 0, 0, 0, 0, 2])

    /// The stream the policy makes of the layout (after the 8-byte hole), by the model.
    static func stream(_ policy: TargetPolicy) -> String {
        var owner = [Int](repeating: -1, count: 192)
        let layout = DefragmentationPolicyOracleTests.layout
        for (index, piece) in layout.enumerated() {
            for position in piece.1..<(piece.1 + piece.2) {
                let holder = owner[position]
                if holder < 0 || policy.newerSegmentWins(newer: Int64(piece.1)..<Int64(piece.1 + piece.2),
                                                  older: Int64(layout[holder].1)..<Int64(layout[holder].1 + layout[holder].2)) {
                    owner[position] = index
                }
            }
        }
        return String(owner.map { layout[$0].0 })
    }

    static var frames: [[UInt8]] {
        let b = FrameBuilder()
        func tcp(_ from: Endpoint, _ to: Endpoint, _ flags: UInt8, _ sequence: UInt32, _ ack: UInt32, _ payload: [UInt8] = []) -> [UInt8] {
            b.tcp(from: from, to: to, .init(flags: flags, sequence: sequence, acknowledgment: ack, payload: payload))
        }
        let isn: UInt32 = 1000, serverISN: UInt32 = 5000
        var frames = [tcp(client, server, 0x02, isn, 0), tcp(server, client, 0x12, serverISN, isn + 1),
                      tcp(client, server, 0x10, isn + 1, serverISN + 1)]
        for piece in DefragmentationPolicyOracleTests.layout {
            let bytes = Array(repeating: UInt8(piece.0.asciiValue!), count: piece.2)
            frames.append(tcp(client, server, 0x18, isn + 1 + 8 + UInt32(piece.1), serverISN + 1, bytes))
        }
        frames.append(tcp(client, server, 0x18, isn + 1, serverISN + 1, Array("GET /x? ".utf8)))
        frames.append(tcp(server, client, 0x10, serverISN + 1, isn + 1 + 8 + 192))
        frames.append(tcp(client, server, 0x11, isn + 1 + 8 + 192, serverISN + 1))
        frames.append(tcp(server, client, 0x11, serverISN + 1, isn + 1 + 8 + 192 + 1))
        frames.append(tcp(client, server, 0x10, isn + 1 + 8 + 192 + 1, serverISN + 2))
        return frames
    }

    static var outcomes: [String] { Array(Set(TargetPolicy.allCases.map(stream))).sorted() }

    static var rules: String {
        outcomes.enumerated().map { index, stream in
            "alert tcp any any -> any any (msg:\"stream \(index)\"; flow:to_server; content:\"GET /x? \(stream)\"; sid:\(index + 1);)"
        }.joined(separator: "\n") + "\n"
    }

    @Test("the stream each policy makes is the one Suricata makes", arguments: [TargetPolicy.bsd, .linux, .windows, .solaris])
    func samePolicyOutcome(policy: TargetPolicy) throws {
        try #require(installed("suricata"), "Suricata is the oracle (scripts/setup.sh installs it)")
        let scratch = try Scratch("stream-policy")
        let capture = try MemoryCapture(frames: Self.frames)
        try capture.write(to: scratch.path + "/overlaps.pcap")
        try Self.rules.write(toFile: scratch.path + "/outcomes.rules", atomically: true, encoding: .utf8)
        let arguments = ["--set", "host-os-policy.windows.0=192.0.2.255",
                         "--set", "host-os-policy.\(policy.rawValue).\(policy == .windows ? 1 : 0)=10.7.0.2"]
        let theirs = try suricataAlerts(capture: scratch.path + "/overlaps.pcap", rules: scratch.path + "/outcomes.rules",
                                        directory: scratch.path, arguments: arguments)
        var configuration = DataPathConfiguration()
        var policies = HostPolicies(default: .first)
        try policies.add(specification: "\(policy)=10.7.0.2")
        configuration.streamPolicies = policies
        let ours = try agentAlerts(capture: capture, rules: scratch.path + "/outcomes.rules", configuration: configuration)
        let expected = Self.outcomes.firstIndex(of: Self.stream(policy))! + 1
        #expect(theirs.perSID.count == 1, "Suricata raised \(theirs.perSID) for \(policy); the model says \(expected)")
        #expect(ours.perSID == theirs.perSID, "\(policy): ours \(ours.perSID), Suricata's \(theirs.perSID), the model's \(expected)")
    }
}

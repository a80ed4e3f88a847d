import MBoxFlow
import MBoxPacket
import MBoxTCPSplicer
import MBoxTCPSplitProxy
import MBoxTCPMonitor

/// How one worker's data path is set up.
public struct DataPathConfiguration: Sendable {
    public var flowTable = FlowTableConfiguration()
    /// Byte-stream reassembly for TCP flows; nil runs the TCP Monitor without it.
    public var reassembly: ReassemblyConfiguration? = ReassemblyConfiguration()
    /// False for the L2/L3 μStack: flows are tracked, TCP state is not. (The default
    /// stack of flows no `stackRules` rule takes.)
    public var tracksTCP = true
    /// Rules that put flows on other stacks than the default, by their first packet.
    public var stackRules: [StackRule] = []
    /// The TCP Splicer's services (needed when a rule selects `tcp_splicer`).
    public var splicer: SplicerConfiguration?
    /// The TCP Split Proxy's limits (used when a rule selects `tcp_split_proxy`).
    public var splitProxy = SplitProxyConfiguration()
    /// The services a data path built with these settings splices (nil: it runs no Splicer).
    public var splicerServices: [SplicedService]? {
        selector.stacks.contains(where: \.answersClients) ? splicer?.services ?? [] : nil
    }
    /// The selector these settings make.
    public var selector: StackSelector { StackSelector(rules: stackRules, defaultStack: tracksTCP ? .tcpMonitor : .l2l3) }
    /// TCP segments with data and a wrong checksum are not taken by the TCP Monitor (the
    /// receiver drops them, so a decoy must not stand for real data). `auto`, as Suricata:
    /// checked from the start, given up when over a tenth of the first 1,000 are wrong (a
    /// capture on a host that offloads checksums).
    public enum ChecksumValidation: String, Sendable { case auto, yes, no }
    public var checksumValidation = ChecksumValidation.auto
    /// Per receiving host, how overlapping TCP segments are resolved (nil: the reassembly
    /// configuration's `overlapPolicy` for every host). By default Suricata's shipped table,
    /// as for fragments, so out of the box the streams are Suricata's.
    public var streamPolicies: HostPolicies? = DefragmentationConfiguration.shippedPolicies
    /// Tunnels opened to reach the inner packet (0: none; outer packets stand as they are).
    public var tunnelDepth: UInt8 = 4
    /// IP defragmentation: limits, timeout, and the overlap policy per destination.
    public var defragmentation = DefragmentationConfiguration()

    public init() {}
}

/// What the data path counted, beyond each stage's own counters.
public struct DataPathCounters: Sendable {
    public var packets: UInt64 = 0
    public var bytes: UInt64 = 0
    public var ipv4: UInt64 = 0
    public var ipv6: UInt64 = 0
    public var tcp: UInt64 = 0
    public var udp: UInt64 = 0
    public var otherTransport: UInt64 = 0
    public var fragments: UInt64 = 0
    public var notIP: UInt64 = 0
    public var malformed = MalformedCounters()
    /// TCP segments with data whose checksum was wrong (left out of the TCP Monitor), and
    /// whether `auto` validation gave up (offloaded checksums).
    public var badChecksums: UInt64 = 0
    public var checksumValidationOff = false
    /// Flows started, by the μStack they run on (`StackKind` raw value): room for eight
    /// stacks, so a new one needs no change here.
    private var flowsByStack: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    /// Packets a μStack took (answered, held or of no use to the other side).
    public var consumedByStack: UInt64 = 0

    /// Flows started on `stack`.
    public func flows(on stack: StackKind) -> UInt64 {
        withUnsafeBytes(of: flowsByStack) { $0.load(fromByteOffset: Int(stack.rawValue) * 8, as: UInt64.self) }
    }

    mutating func countFlow(on stack: StackKind) {
        assert(stack.rawValue < 8, "flowsByStack has room for eight stacks")
        withUnsafeMutableBytes(of: &flowsByStack) { bytes in
            let offset = Int(stack.rawValue) * 8
            bytes.storeBytes(of: bytes.load(fromByteOffset: offset, as: UInt64.self) &+ 1, toByteOffset: offset, as: UInt64.self)
        }
    }
}

/// A tunneled flow's outermost tunnel header, as EVE's `tunnel` object shows it.
public struct TunnelEndpoints: Sendable, Equatable {
    public var source: IPAddress
    public var destination: IPAddress
    public var sourcePort: UInt16
    public var destinationPort: UInt16
    public var ipProtocol: UInt8
    /// Tunnels opened to reach the flow.
    public var depth: UInt8
}

/// What was wrong or suspicious in the last packet below the TCP stack (TCP's own are in
/// `TCPPacketResult.anomalies`; a malformed packet's reason is its disposition).
public struct PacketAnomalies: OptionSet, Sendable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// A fragment overlapped one already held (resolved by the destination's policy).
    public static let fragmentOverlap = PacketAnomalies(rawValue: 1 << 0)
    /// RFC 1858: a first fragment too short for its transport header, or TCP at offset 8.
    public static let fragmentTiny = PacketAnomalies(rawValue: 1 << 1)
    /// A fragment that cannot be part of a datagram (empty, past 65,535, misaligned).
    public static let fragmentInvalid = PacketAnomalies(rawValue: 1 << 2)
    /// A fragment (and its datagram) given up at a defragmentation limit.
    public static let fragmentDropped = PacketAnomalies(rawValue: 1 << 3)
    /// A TCP segment with data and a wrong checksum (left out of the stream).
    public static let invalidChecksum = PacketAnomalies(rawValue: 1 << 4)
}

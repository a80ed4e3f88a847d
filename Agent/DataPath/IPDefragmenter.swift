import MBoxCapture
import MBoxPacket

/// How IP defragmentation is bounded and which host resolves overlaps how.
public struct DefragmentationConfiguration: Sendable {
    /// Overlapping fragments are put together as the destination host's stack does. As
    /// Suricata ships (its `host-os-policy` in suricata.yaml): IPv4 hosts as Windows,
    /// others as BSD (its built-in default).
    public var policies = DefragmentationConfiguration.shippedPolicies
    /// A datagram not complete this long after its first fragment (capture time) is given up.
    public var timeoutNanoseconds: UInt64 = 60_000_000_000
    /// Most fragment bytes held for all datagrams in progress.
    public var memoryLimit = 32 * 1024 * 1024
    /// Most datagrams in progress, and fragments held per datagram.
    public var maximumDatagrams = 16_384
    public var maximumFragmentsPerDatagram = 256

    public init() {}

    public static let shippedPolicies: HostPolicies = {
        var policies = HostPolicies(default: .bsd)
        policies.add(AddressBlock(cidr: "0.0.0.0/0")!, .windows)
        return policies
    }()
}

/// What the defragmenter counted.
public struct DefragmentationCounters: Sendable {
    /// Datagrams put back together and passed on.
    public var reassembled: UInt64 = 0
    /// Fragments whose bytes overlapped ones already held (resolved by the host's policy).
    public var overlaps: UInt64 = 0
    /// Datagrams given up: timed out, or dropped because a limit was hit.
    public var timedOut: UInt64 = 0
    public var dropped: UInt64 = 0
    /// Fragments refused: past 65,535 bytes, empty, or not a multiple of 8 bytes before the last.
    public var invalid: UInt64 = 0
    /// First fragments too short to hold the transport header, or TCP fragments at offset
    /// 8 (RFC 1858: both rewrite the header a filter decided on).
    public var tiny: UInt64 = 0
    /// Fragment bytes held now.
    public var heldBytes: Int = 0
}

/// IP defragmentation (IPv4 and IPv6) before the flow stage. Fragments are held per
/// (source, destination, identification, protocol) until the datagram is whole, then
/// put together by the destination's `TargetPolicy` — each byte comes from the fragment
/// that host's stack would keep. Bounded by datagrams, fragments and bytes held; timed
/// out in capture time; all of it counted.
final class IPDefragmenter {
    @inline(__always)
    private static func u16(_ bytes: UnsafeRawBufferPointer, _ at: Int) -> UInt16 { UInt16(bytes[at]) << 8 | UInt16(bytes[at + 1]) }
    @inline(__always)
    private static func u32(_ bytes: UnsafeRawBufferPointer, _ at: Int) -> UInt32 {
        UInt32(u16(bytes, at)) << 16 | UInt32(u16(bytes, at + 2))
    }

    struct Key: Hashable {
        var source: IPAddress
        var destination: IPAddress
        var identification: UInt32
        var ipProtocol: UInt8
    }

    /// One fragment's place in the datagram and where its bytes are in `Datagram.bytes`.
    struct Fragment {
        var range: Range<Int64>
        var stored: Int
    }

    struct Datagram {
        var firstSeen: UInt64
        /// The headers to put before the data (from the fragment at offset 0), and where in
        /// them the next-header field to rewrite is (IPv6; -1 for IPv4).
        var header: [UInt8] = []
        var nextHeaderField = -1
        /// Fragments in the order they arrived, and their bytes one after another.
        var fragments: [Fragment] = []
        var bytes: [UInt8] = []
        var overlapped = false
        var totalLength: Int?
        var version: UInt8
        var ipProtocol: UInt8
        var policy: TargetPolicy
    }

    let configuration: DefragmentationConfiguration
    private var datagrams: [Key: Datagram] = [:]
    private var sinceSweep = 0
    private(set) var counters = DefragmentationCounters()
    /// What the last fragment added showed.
    private(set) var findings = PacketAnomalies()
    /// The last reassembled datagram (raw IP), valid until the next one; and, per byte,
    /// which fragment supplies it (used only when fragments overlapped).
    private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_535 + 1024, alignment: 64)
    private let owner = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 65_536)

    init(configuration: DefragmentationConfiguration = DefragmentationConfiguration()) {
        self.configuration = configuration
    }

    deinit {
        output.deallocate()
        owner.deallocate()
    }

    /// Adds a fragment (`headers` as the parser filled them for it); returns the whole
    /// datagram as raw IP bytes when this fragment completes it.
    func add(_ bytes: UnsafeRawBufferPointer, headers: PacketHeaders, timestamp: UInt64) -> UnsafeRawBufferPointer? {
        findings = []
        sinceSweep += 1
        if sinceSweep >= 1024 || datagrams.count >= configuration.maximumDatagrams
            || counters.heldBytes >= configuration.memoryLimit { sweep(now: timestamp) }
        let network = headers.networkOffset
        var key = Key(source: headers.source, destination: headers.destination, identification: 0, ipProtocol: headers.ipProtocol)
        let offset: Int, more: Bool, payload: Range<Int>
        if headers.ipVersion == 4 {
            let headerLength = Int(bytes[network] & 0x0F) * 4
            let field = Self.u16(bytes, network + 6)
            key.identification = UInt32(Self.u16(bytes, network + 4))
            offset = Int(field & 0x1FFF) * 8
            more = field & 0x2000 != 0
            payload = (network + headerLength)..<(network + headers.ipLength)
        } else {
            let fragmentHeader = headers.transportOffset - 8
            let field = Self.u16(bytes, fragmentHeader + 2)
            key.identification = Self.u32(bytes, fragmentHeader + 4)
            offset = Int(field >> 3) * 8
            more = field & 1 != 0
            payload = headers.transportOffset..<(network + headers.ipLength)
        }
        let length = payload.count
        guard length > 0, offset + length <= 65_535, !more || length % 8 == 0 else {
            counters.invalid &+= 1
            findings.insert(.fragmentInvalid)
            return nil
        }
        if isTiny(offset: offset, length: length, ipProtocol: headers.ipProtocol) {
            counters.tiny &+= 1
            findings.insert(.fragmentTiny)
        }
        if datagrams[key] == nil {
            guard datagrams.count < configuration.maximumDatagrams else { return drop() }
            datagrams[key] = Datagram(firstSeen: timestamp, version: headers.ipVersion, ipProtocol: headers.ipProtocol,
                                      policy: configuration.policies.policy(for: headers.destination))
        }
        guard counters.heldBytes + length <= configuration.memoryLimit,
              datagrams[key]!.fragments.count < configuration.maximumFragmentsPerDatagram else {
            // The datagram cannot be completed within the limits: given up whole.
            release(key)
            return drop()
        }
        var complete = false
        withDatagram(key) { datagram in
            if offset == 0, datagram.header.isEmpty {
                datagram.header = Self.header(bytes, headers: headers, nextHeaderField: &datagram.nextHeaderField)
            }
            if !more, datagram.totalLength == nil { datagram.totalLength = offset + length }
            let range = Int64(offset)..<Int64(offset + length)
            if datagram.fragments.contains(where: { $0.range.overlaps(range) }) {
                datagram.overlapped = true
                counters.overlaps &+= 1
                findings.insert(.fragmentOverlap)
            }
            datagram.fragments.append(Fragment(range: range, stored: datagram.bytes.count))
            datagram.bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[payload]))
            counters.heldBytes += length
            complete = Self.isComplete(datagram)
        }
        guard complete, let datagram = release(key) else { return nil }
        counters.reassembled &+= 1
        return assemble(datagram)
    }

    /// RFC 1858's tiny-fragment attack: a first fragment too short for the transport
    /// header (TCP 20, UDP 8 bytes), or a TCP fragment at offset 8 that rewrites the flags.
    private func isTiny(offset: Int, length: Int, ipProtocol: UInt8) -> Bool {
        switch ipProtocol {
        case IPProtocolNumber.tcp: return (offset == 0 && length < 20) || offset == 8
        case IPProtocolNumber.udp: return offset == 0 && length < 8
        default: return false
        }
    }

    private func drop() -> UnsafeRawBufferPointer? {
        counters.dropped &+= 1
        findings.insert(.fragmentDropped)
        return nil
    }

    private func withDatagram(_ key: Key, _ body: (inout Datagram) -> Void) {
        body(&datagrams[key]!)
    }

    @discardableResult
    private func release(_ key: Key) -> Datagram? {
        guard let datagram = datagrams.removeValue(forKey: key) else { return nil }
        counters.heldBytes -= datagram.bytes.count
        return datagram
    }

    /// Whether the last fragment and the first arrived and the fragments cover everything between.
    private static func isComplete(_ datagram: Datagram) -> Bool {
        guard let total = datagram.totalLength, !datagram.header.isEmpty else { return false }
        var covered: Int64 = 0
        for fragment in datagram.fragments.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) {
            if fragment.range.lowerBound > covered { return false }
            covered = max(covered, fragment.range.upperBound)
        }
        return covered >= Int64(total)
    }

    /// The header part the reassembled datagram starts with: IPv4's header; IPv6's header
    /// and the extension headers before the fragment header (`nextHeaderField` is where the
    /// field pointing at the fragment header is).
    private static func header(_ bytes: UnsafeRawBufferPointer, headers: PacketHeaders, nextHeaderField: inout Int) -> [UInt8] {
        let network = headers.networkOffset
        if headers.ipVersion == 4 {
            return Array(bytes[network..<(network + Int(bytes[network] & 0x0F) * 4)])
        }
        let fragmentHeader = headers.transportOffset - 8
        var field = 6
        var cursor = 40
        var next = bytes[network + 6]
        while next != 44, network + cursor < fragmentHeader {
            field = cursor
            next = bytes[network + cursor]
            cursor += next == 51 ? (Int(bytes[network + cursor + 1]) + 2) * 4 : (Int(bytes[network + cursor + 1]) + 1) * 8
        }
        nextHeaderField = field
        return Array(bytes[network..<fragmentHeader])
    }

    private func assemble(_ datagram: Datagram) -> UnsafeRawBufferPointer {
        let total = datagram.totalLength!
        let headerLength = datagram.header.count
        datagram.header.withUnsafeBytes { output.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: headerLength) }
        let data = output.baseAddress! + headerLength
        datagram.bytes.withUnsafeBytes { held in
            if !datagram.overlapped {
                for fragment in datagram.fragments where fragment.range.lowerBound < Int64(total) {
                    let count = Int(min(fragment.range.upperBound, Int64(total)) - fragment.range.lowerBound)
                    (data + Int(fragment.range.lowerBound)).copyMemory(from: held.baseAddress! + fragment.stored, byteCount: count)
                }
                return
            }
            // Byte by byte, in arrival order: a later fragment takes a byte when the
            // destination's policy says it replaces the one holding it.
            for index in 0..<total { owner[index] = -1 }
            for (index, fragment) in datagram.fragments.enumerated() {
                for position in Int(fragment.range.lowerBound)..<Int(min(fragment.range.upperBound, Int64(total))) {
                    let holder = owner[position]
                    if holder < 0 || datagram.policy.newerWins(newer: fragment.range, older: datagram.fragments[Int(holder)].range) {
                        owner[position] = Int32(index)
                    }
                }
            }
            for position in 0..<total {
                let fragment = datagram.fragments[Int(owner[position])]
                data.storeBytes(of: held[fragment.stored + position - Int(fragment.range.lowerBound)], toByteOffset: position, as: UInt8.self)
            }
        }
        let length = headerLength + total
        if datagram.version == 4 {
            output.storeBytes(of: UInt16(length).bigEndian, toByteOffset: 2, as: UInt16.self)
            output.storeBytes(of: UInt16(0), toByteOffset: 6, as: UInt16.self)
        } else {
            output.storeBytes(of: UInt16(length - 40).bigEndian, toByteOffset: 4, as: UInt16.self)
            // The field that named the fragment header now names what the fragments carried.
            output[datagram.nextHeaderField] = datagram.ipProtocol
        }
        return UnsafeRawBufferPointer(rebasing: output[0..<length])
    }

    /// Gives up datagrams older than the timeout; at a limit, the oldest go too.
    private func sweep(now: UInt64) {
        sinceSweep = 0
        for (key, datagram) in datagrams where now >= datagram.firstSeen &+ configuration.timeoutNanoseconds {
            release(key)
            counters.timedOut &+= 1
        }
        while datagrams.count >= configuration.maximumDatagrams || counters.heldBytes >= configuration.memoryLimit,
              let oldest = datagrams.min(by: { $0.value.firstSeen < $1.value.firstSeen }) {
            release(oldest.key)
            counters.dropped &+= 1
        }
    }
}

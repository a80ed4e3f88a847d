import MBoxCapture
import MBoxPacket

/// What the defragmenter counted.
public struct DefragmentationCounters: Sendable {
    /// Datagrams put back together and passed on.
    public var reassembled: UInt64 = 0
    /// Fragments whose bytes overlapped ones already held (the first bytes were kept).
    public var overlaps: UInt64 = 0
    /// Datagrams given up: timed out, or dropped because the held-fragment limits were hit.
    public var timedOut: UInt64 = 0
    public var dropped: UInt64 = 0
    /// Fragments refused: past 65,535 bytes, or not a multiple of 8 bytes before the last.
    public var invalid: UInt64 = 0
}

/// IP defragmentation (IPv4 and IPv6) before the flow stage. Fragments are held per
/// (source, destination, identification, protocol) until the datagram is whole; where
/// fragments overlap, the bytes received first are kept (as for TCP segments, so a later
/// fragment cannot rewrite what was inspected). Bounded: at most `maximumDatagrams` in
/// progress, `timeout` nanoseconds of capture time each; what goes over is counted.
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

    struct Datagram {
        var firstSeen: UInt64
        /// The headers to put before the data (from the fragment at offset 0), and where in
        /// them the next-header field to rewrite is (IPv6; -1 for IPv4).
        var header: [UInt8] = []
        var nextHeaderField = -1
        var data: [UInt8] = []
        /// 8-byte units held.
        var units: [UInt64] = Array(repeating: 0, count: 128)
        var totalLength: Int?
        var version: UInt8
        var ipProtocol: UInt8
    }

    static let maximumDatagrams = 4096
    static let timeout: UInt64 = 30_000_000_000
    private var datagrams: [Key: Datagram] = [:]
    private var sinceSweep = 0
    private(set) var counters = DefragmentationCounters()
    /// The last reassembled datagram (raw IP), valid until the next one.
    private let output = UnsafeMutableRawBufferPointer.allocate(byteCount: 65_535 + 1024, alignment: 64)

    deinit { output.deallocate() }

    /// Adds a fragment (`headers` as the parser filled them for it); returns the whole
    /// datagram as raw IP bytes when this fragment completes it.
    func add(_ bytes: UnsafeRawBufferPointer, headers: PacketHeaders, timestamp: UInt64) -> UnsafeRawBufferPointer? {
        sinceSweep += 1
        if sinceSweep >= 1024 || datagrams.count >= Self.maximumDatagrams { sweep(now: timestamp) }
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
        guard offset + length <= 65_535, more ? length % 8 == 0 && length > 0 : true else {
            counters.invalid &+= 1
            return nil
        }
        if datagrams[key] == nil {
            guard datagrams.count < Self.maximumDatagrams else {
                counters.dropped &+= 1
                return nil
            }
            datagrams[key] = Datagram(firstSeen: timestamp, version: headers.ipVersion, ipProtocol: headers.ipProtocol)
        }
        // Mutated in place (no copy of its buffers).
        var complete = false
        withDatagram(key) { datagram in
            if offset == 0 { datagram.header = Self.header(bytes, headers: headers, nextHeaderField: &datagram.nextHeaderField) }
            if !more { datagram.totalLength = offset + length }
            if datagram.data.count < offset + length { datagram.data += repeatElement(0, count: offset + length - datagram.data.count) }
            var overlapped = false
            var unit = offset / 8
            var position = offset
            while position < offset + length {
                let end = min(position + 8, offset + length)
                if datagram.units[unit / 64] & (1 << UInt64(unit % 64)) != 0 {
                    overlapped = true
                } else {
                    for index in position..<end { datagram.data[index] = bytes[payload.lowerBound + index - offset] }
                    datagram.units[unit / 64] |= 1 << UInt64(unit % 64)
                }
                position = end
                unit += 1
            }
            if overlapped { counters.overlaps &+= 1 }
            guard let total = datagram.totalLength, !datagram.header.isEmpty else { return }
            let units = (total + 7) / 8
            for index in 0..<units where datagram.units[index / 64] & (1 << UInt64(index % 64)) == 0 { return }
            complete = true
        }
        guard complete, let datagram = datagrams.removeValue(forKey: key), let total = datagram.totalLength else { return nil }
        counters.reassembled &+= 1
        return assemble(datagram, total: total)
    }

    private func withDatagram(_ key: Key, _ body: (inout Datagram) -> Void) {
        body(&datagrams[key]!)
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

    private func assemble(_ datagram: Datagram, total: Int) -> UnsafeRawBufferPointer {
        let headerLength = datagram.header.count
        datagram.header.withUnsafeBytes { output.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: headerLength) }
        datagram.data.withUnsafeBytes { (output.baseAddress! + headerLength).copyMemory(from: $0.baseAddress!, byteCount: total) }
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

    /// Gives up datagrams older than `timeout`; at the limit, the oldest go too.
    private func sweep(now: UInt64) {
        sinceSweep = 0
        let before = datagrams.count
        datagrams = datagrams.filter { now < $0.value.firstSeen &+ Self.timeout }
        counters.timedOut &+= UInt64(before - datagrams.count)
        if datagrams.count >= Self.maximumDatagrams, let oldest = datagrams.min(by: { $0.value.firstSeen < $1.value.firstSeen }) {
            datagrams[oldest.key] = nil
            counters.dropped &+= 1
        }
    }
}

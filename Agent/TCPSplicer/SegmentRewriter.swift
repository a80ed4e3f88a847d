import MBoxPacket

/// Rewrites fields of a TCP/IPv4 segment in place, keeping the IPv4 header and TCP
/// checksums right by incremental update (RFC 1624): splicing costs a few stores per
/// packet, never a pass over its payload.
struct SegmentRewriter {
    let bytes: UnsafeMutableRawBufferPointer
    let network: Int
    let tcp: Int

    init(_ data: UnsafeRawBufferPointer, _ headers: PacketHeaders) {
        bytes = UnsafeMutableRawBufferPointer(mutating: data)
        network = headers.networkOffset
        tcp = headers.transportOffset
    }

    private func load32(_ offset: Int) -> UInt32 { UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }
    private func load16(_ offset: Int) -> UInt16 { UInt16(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }

    private func adjustTCP(old: UInt32, new: UInt32) {
        let sum = load16(tcp + 16)
        bytes.storeBytes(of: TransportChecksum.adjusted(sum, old: old, new: new).bigEndian, toByteOffset: tcp + 16, as: UInt16.self)
    }

    /// Stores a 16-bit TCP field and adjusts the TCP checksum for it.
    private func set16(_ offset: Int, _ value: UInt16) {
        let old = load16(offset)
        guard old != value else { return }
        bytes.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self)
        let sum = load16(tcp + 16)
        bytes.storeBytes(of: TransportChecksum.adjusted(sum, old: old, new: value).bigEndian, toByteOffset: tcp + 16, as: UInt16.self)
    }

    private func set32(_ offset: Int, _ value: UInt32) {
        let old = load32(offset)
        guard old != value else { return }
        bytes.storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self)
        adjustTCP(old: old, new: value)
    }

    var sequence: UInt32 {
        get { load32(tcp + 4) }
        nonmutating set { set32(tcp + 4, newValue) }
    }

    var acknowledgment: UInt32 {
        get { load32(tcp + 8) }
        nonmutating set { set32(tcp + 8, newValue) }
    }

    var window: UInt16 {
        get { load16(tcp + 14) }
        nonmutating set { set16(tcp + 14, newValue) }
    }

    /// Source (`source`) or destination address and port, IPv4 only.
    func setEndpoint(source: Bool, address: IPAddress, port: UInt16) {
        let addressOffset = network + (source ? 12 : 16)
        let oldAddress = load32(addressOffset)
        let newAddress = UInt32(bigEndian: UInt32(truncatingIfNeeded: address.low >> 32))
        if oldAddress != newAddress {
            bytes.storeBytes(of: newAddress.bigEndian, toByteOffset: addressOffset, as: UInt32.self)
            let ipSum = load16(network + 10)
            bytes.storeBytes(of: TransportChecksum.adjusted(ipSum, old: oldAddress, new: newAddress).bigEndian,
                             toByteOffset: network + 10, as: UInt16.self)
            adjustTCP(old: oldAddress, new: newAddress)
        }
        set16(tcp + (source ? 0 : 2), port)
    }

    /// Shifts timestamps (TSval by `valueDelta`, TSecr by `echoDelta`) and SACK block
    /// edges (by `sackDelta`), walking the options once.
    func shiftOptions(valueDelta: UInt32, echoDelta: UInt32, sackDelta: UInt32) {
        let end = tcp + Int(bytes[tcp + 12] >> 4) * 4
        var offset = tcp + 20
        while offset < end {
            let kind = bytes[offset]
            if kind == 0 { return }
            if kind == 1 { offset += 1; continue }
            guard offset + 1 < end else { return }
            let length = Int(bytes[offset + 1])
            guard length >= 2, offset + length <= end else { return }
            if kind == 8, length == 10 {
                if valueDelta != 0 { set32(offset + 2, load32(offset + 2) &- valueDelta) }
                if echoDelta != 0 { set32(offset + 6, load32(offset + 6) &+ echoDelta) }
            } else if kind == 5, sackDelta != 0 {
                var edge = offset + 2
                while edge + 4 <= offset + length {
                    set32(edge, load32(edge) &+ sackDelta)
                    edge += 4
                }
            }
            offset += length
        }
    }

    func setMAC(destination: Bool, _ address: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8)) {
        guard network >= 14 else { return }
        let at = destination ? 0 : 6
        bytes[at] = address.0; bytes[at + 1] = address.1; bytes[at + 2] = address.2
        bytes[at + 3] = address.3; bytes[at + 4] = address.4; bytes[at + 5] = address.5
    }
}

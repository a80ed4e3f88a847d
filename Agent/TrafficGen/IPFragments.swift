/// IP fragmentation as an evasion: a frame's IPv4 or IPv6 packet cut into fragments
/// carrying `size` bytes of payload each (a multiple of 8 but for the last).
public enum IPFragments {
    /// Cuts the IP packet after the 14-byte Ethernet header into fragments of `size` bytes of payload.
    public static func cut(_ frame: [UInt8], size: Int, identification: UInt32) -> [[UInt8]] {
        let ethernet = Array(frame[0..<14])
        let ip = Array(frame[14...])
        if ip[0] >> 4 == 4 {
            let headerLength = Int(ip[0] & 0x0F) * 4
            let header = Array(ip[0..<headerLength]), payload = Array(ip[headerLength...])
            return stride(from: 0, to: payload.count, by: size).map { offset in
                let piece = Array(payload[offset..<min(payload.count, offset + size)])
                var fragment = header
                let total = UInt16(headerLength + piece.count)
                fragment[2] = UInt8(total >> 8); fragment[3] = UInt8(total & 0xFF)
                fragment[4] = UInt8((identification >> 8) & 0xFF); fragment[5] = UInt8(identification & 0xFF)
                let field = UInt16(offset / 8) | (offset + size < payload.count ? 0x2000 : 0)
                fragment[6] = UInt8(field >> 8); fragment[7] = UInt8(field & 0xFF)
                return ethernet + fragment + piece
            }
        }
        // IPv6: the base header, then a fragment header before each piece.
        let base = Array(ip[0..<40]), payload = Array(ip[40...])
        let next = base[6]
        return stride(from: 0, to: payload.count, by: size).map { offset in
            let piece = Array(payload[offset..<min(payload.count, offset + size)])
            var header = base
            let length = UInt16(8 + piece.count)
            header[4] = UInt8(length >> 8); header[5] = UInt8(length & 0xFF); header[6] = 44
            let field = UInt16(offset / 8) << 3 | (offset + size < payload.count ? 1 : 0)
            let fragment: [UInt8] = [next, 0, UInt8(field >> 8), UInt8(field & 0xFF),
                                     UInt8(identification >> 24), UInt8((identification >> 16) & 0xFF),
                                     UInt8((identification >> 8) & 0xFF), UInt8(identification & 0xFF)]
            return ethernet + header + fragment + piece
        }
    }

    /// One fragment of the IP packet in `frame` (after its 14-byte Ethernet header) that
    /// carries `bytes` at `offset` of the IP payload — any bytes, so overlapping fragments
    /// can disagree (target-based reassembly tests). `more`: the More Fragments flag.
    public static func piece(of frame: [UInt8], offset: Int, bytes: [UInt8], more: Bool, identification: UInt32) -> [UInt8] {
        let ethernet = Array(frame[0..<14])
        let ip = Array(frame[14...])
        if ip[0] >> 4 == 4 {
            var header = Array(ip[0..<(Int(ip[0] & 0x0F) * 4)])
            let total = UInt16(header.count + bytes.count)
            header[2] = UInt8(total >> 8); header[3] = UInt8(total & 0xFF)
            header[4] = UInt8((identification >> 8) & 0xFF); header[5] = UInt8(identification & 0xFF)
            let field = UInt16(offset / 8) | (more ? 0x2000 : 0)
            header[6] = UInt8(field >> 8); header[7] = UInt8(field & 0xFF)
            header[10] = 0; header[11] = 0
            let checksum = FrameBuilder.onesComplement(header)
            header[10] = UInt8(checksum >> 8); header[11] = UInt8(checksum & 0xFF)
            return ethernet + header + bytes
        }
        var header = Array(ip[0..<40])
        let next = header[6]
        let length = UInt16(8 + bytes.count)
        header[4] = UInt8(length >> 8); header[5] = UInt8(length & 0xFF); header[6] = 44
        let field = UInt16(offset / 8) << 3 | (more ? 1 : 0)
        let fragment: [UInt8] = [next, 0, UInt8(field >> 8), UInt8(field & 0xFF),
                                 UInt8(identification >> 24), UInt8((identification >> 16) & 0xFF),
                                 UInt8((identification >> 8) & 0xFF), UInt8(identification & 0xFF)]
        return ethernet + header + fragment + bytes
    }

    /// Every frame of `packets` with more than `size` bytes of IP payload cut into
    /// fragments, in order, reversed (`order` 1) or shuffled (2, deterministic).
    public static func fragment(_ packets: [(timestamp: UInt64, frame: [UInt8])], size: Int, order: Int)
        -> [(timestamp: UInt64, frame: [UInt8])] {
        var result: [(timestamp: UInt64, frame: [UInt8])] = []
        var identification: UInt32 = 1
        var random = UInt64(size)
        for (timestamp, frame) in packets {
            guard frame.count > 14 + 60 + size else {
                result.append((timestamp, frame))
                continue
            }
            var pieces = cut(frame, size: size, identification: identification)
            identification += 1
            if order == 1 { pieces.reverse() }
            if order == 2 {
                for index in pieces.indices.reversed() {
                    random = random &* 6364136223846793005 &+ 1442695040888963407
                    pieces.swapAt(index, Int(random >> 33) % (index + 1))
                }
            }
            result += pieces.map { (timestamp, $0) }
        }
        return result
    }
}

/// Frames put inside a tunnel, as a sensor receives mirrored traffic: VXLAN (UDP 4789) or
/// GRE (IP inside) between two outer IPv4 endpoints.
public enum Encapsulation: Sendable {
    case vxlan(vni: UInt32)
    case gre

    /// `frame` (Ethernet) inside this tunnel from `source` to `destination`.
    public func wrap(_ frame: [UInt8], source: [UInt8] = [172, 31, 0, 1], destination: [UInt8] = [172, 31, 0, 2]) -> [UInt8] {
        let payload: [UInt8], proto: UInt8
        switch self {
        case let .vxlan(vni):
            let vxlan: [UInt8] = [0x08, 0, 0, 0, UInt8(vni >> 16 & 0xFF), UInt8(vni >> 8 & 0xFF), UInt8(vni & 0xFF), 0]
            let length = UInt16(8 + vxlan.count + frame.count)
            payload = [0xC3, 0x50, 0x12, 0xB5, UInt8(length >> 8), UInt8(length & 0xFF), 0, 0] + vxlan + frame
            proto = 17
        case .gre:
            let ip = Array(frame[14...])
            payload = [0, 0] + (ip[0] >> 4 == 4 ? [0x08, 0x00] : [0x86, 0xDD]) + ip
            proto = 47
        }
        let total = UInt16(20 + payload.count)
        var header: [UInt8] = [0x45, 0, UInt8(total >> 8), UInt8(total & 0xFF), 0, 0, 0x40, 0, 64, proto, 0, 0] + source + destination
        let checksum = FrameBuilder.onesComplement(header)
        header[10] = UInt8(checksum >> 8); header[11] = UInt8(checksum & 0xFF)
        return [2, 0, 0, 0, 0, 0xBB, 2, 0, 0, 0, 0, 0xAA, 0x08, 0x00] + header + payload
    }
}

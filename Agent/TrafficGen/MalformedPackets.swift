/// Packets broken in the ways hostile or damaged traffic is, each named by the reason
/// the agent's parser must count it under.
struct MalformedPackets {
    let builder: FrameBuilder
    private var counter: UInt16 = 0

    init(builder: FrameBuilder) { self.builder = builder }

    static let kinds = [
        "truncated_link_header", "truncated_ipv4_header", "bad_ipv4_header_length", "bad_ipv4_total_length",
        "truncated_tcp_header", "bad_tcp_data_offset", "bad_tcp_option", "bad_udp_length",
        "truncated_ipv6_header", "bad_ipv6_payload_length", "bad_ip_version",
    ]

    mutating func next(rng: inout SplitMix64) -> (String, [UInt8]) {
        counter &+= 1
        let kind = Self.kinds[Int(rng.next() % UInt64(Self.kinds.count))]
        let source = Endpoint(address: [198, 51, 100, 7], port: 40_000 &+ counter, mac: [2, 0, 0, 0, 0, 9])
        let target = Endpoint(address: [192, 0, 2, 250], port: 80, mac: [2, 0, 0, 0, 0, 10])
        let source6 = Endpoint(address: [0xfd, 0xee] + [UInt8](repeating: 0, count: 13) + [7], port: source.port, mac: source.mac)
        let target6 = Endpoint(address: [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [250], port: 80, mac: target.mac)
        let segment = FrameBuilder.TCPSegment(flags: 0x18, sequence: UInt32(counter), acknowledgment: 1,
                                              payload: Array("GET / HTTP/1.1\r\n\r\n".utf8))
        var frame = builder.tcp(from: source, to: target, segment)
        let ip = 14 + 4 * builder.vlanIDs.count
        let tcp = ip + 20
        switch kind {
        case "truncated_link_header":
            frame = Array(frame.prefix(10))
        case "truncated_ipv4_header":
            frame = Array(frame.prefix(ip + 12))
        case "bad_ipv4_header_length":
            frame[ip] = 0x43
        case "bad_ipv4_total_length":
            frame[ip + 2] = 0x7F
        case "truncated_tcp_header":
            let total = 20 + 12
            frame[ip + 2] = UInt8(total >> 8)
            frame[ip + 3] = UInt8(total & 0xFF)
            frame = Array(frame.prefix(ip + total))
        case "bad_tcp_data_offset":
            frame[tcp + 12] = 0xF0
        case "bad_tcp_option":
            var options = segment
            options.options = [2, 9, 0, 0]  // MSS option claiming 9 bytes in a 4-byte option area
            frame = builder.tcp(from: source, to: target, options)
        case "bad_udp_length":
            frame = builder.udp(from: source, to: target, payload: [1, 2, 3, 4])
            frame[tcp + 4] = 0x40
        case "truncated_ipv6_header":
            frame = Array(builder.tcp(from: source6, to: target6, segment).prefix(ip + 30))
        case "bad_ipv6_payload_length":
            frame = builder.tcp(from: source6, to: target6, segment)
            frame[ip + 4] = 0x7F
        default:  // bad_ip_version
            frame[ip] = 0x55
        }
        return (kind, frame)
    }
}

import MBoxCapture
import MBoxDataPath
import MBoxTCPMonitor

/// The packet path — parse → defragment → flow → TCP Monitor → reassembly — over frames
/// cut from the input (a link type, then length-prefixed frames), with small limits so
/// they are reached; what is held stays within them.
enum PacketPathFuzzTarget {
    static let linkTypes: [LinkType] = [.ethernet, .raw, .null, .loop, .ppp, .linuxSLL, .linuxSLL2, .ipv4, .ipv6, .ciscoHDLC]

    static func run(_ bytes: UnsafeRawBufferPointer) {
        var input = FuzzInput(bytes)
        let configuration = smallDataPathConfiguration()
        let dataPath = DataPath(configuration: configuration)
        let linkType = linkTypes[Int(input.byte()) % linkTypes.count]
        var timestamp: UInt64 = 1_000_000_000
        while !input.isEmpty {
            let frame = input.take(input.u16() % 2048)
            timestamp += UInt64(input.byte()) * 1_000_000
            _ = dataPath.process(CapturedPacket(timestamp: timestamp, data: frame, originalLength: UInt32(frame.count), linkType: linkType))
            var delivered = 0
            for chunk in dataPath.chunks { delivered += chunk.length }
            fuzzCheck(dataPath.defragmentation.heldBytes <= configuration.defragmentation.memoryLimit, "defragmentation over its memory limit")
            fuzzCheck(dataPath.flows.count <= 64, "flow table over its capacity")
        }
        dataPath.finishAll()
    }
}

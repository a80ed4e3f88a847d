import MBoxAppLayer

/// Application-layer parsers (HTTP, TLS with certificates, SSH, SMTP/FTP detection, DNS):
/// a server port, then pieces of the conversation — each a direction bit and a length —
/// fed as a reassembled stream delivers them.
enum AppLayerFuzzTarget {
    static let ports: [UInt16] = [80, 443, 22, 53, 25, 21, 445, 8080]

    static func run(_ bytes: UnsafeRawBufferPointer) {
        var input = FuzzInput(bytes)
        let flow = AppLayerFlow(serverPort: ports[Int(input.byte()) % ports.count], bodyLimit: 4096)
        var transactions = 0
        while !input.isEmpty {
            let header = input.byte()
            let piece = input.take(Int(header & 0x7F) + 1)
            transactions += flow.feed(piece, toServer: header & 0x80 == 0).count
            _ = AppLayerFlow.dns(piece, toServer: header & 0x80 == 0)
        }
        transactions += flow.finish().count
        fuzzCheck(transactions <= bytes.count + 2, "more transactions than bytes")
    }
}

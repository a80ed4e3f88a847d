import MBoxCapture

/// pcap and pcapng readers: any bytes are read to the end or refused with an error that
/// names the offset; every record returned lies inside the input.
enum CaptureFuzzTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        guard let reader = try? CaptureFileReader(bytes: bytes) else { return }
        var records = 0
        while records < 100_000 {
            guard let packet = try? reader.next() else { return }
            if packet.data.count > 0, let base = bytes.baseAddress, let start = packet.data.baseAddress {
                fuzzCheck(start >= base && start + packet.data.count <= base + bytes.count, "a record points outside the capture")
            }
            records += 1
        }
    }
}

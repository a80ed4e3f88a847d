import MBoxCapture
import MBoxPacket
import MBoxTCPEndpoint
import MBoxTransmit

/// The agent's own TCP endpoint (the Split Proxy's and Endpoint's) fed a hostile peer:
/// segments with sequence and acknowledgment numbers around its own (so they land in,
/// before and beyond its windows), any flags, windows, timestamps and SACK blocks, and
/// payloads; the application writing, reading and closing at random; time jumping. Its
/// buffers stay within their capacities whatever arrives.
enum TCPEndpointFuzzTarget {
    static let capacity = 8192

    static func run(_ bytes: UnsafeRawBufferPointer) {
        var input = FuzzInput(bytes)
        let us = IPAddress(10, 0, 0, 1), peer = IPAddress(10, 0, 0, 2)
        let link = LinkFraming(destination: MACAddress(2, 0, 0, 0, 0, 2), source: MACAddress(2, 0, 0, 0, 0, 1))
        let options = input.byte()
        var setup = ConnectionSetup(local: us, localPort: 80, remote: peer, remotePort: 40000, link: link, egress: .back,
                                    sendNext: 1000, receiveNext: 5000, peerMSS: UInt16(input.u16()), peerWindow: UInt32(input.u16()))
        setup.sackPermitted = options & 1 != 0
        setup.timestamps = options & 2 != 0
        setup.peerScale = options & 4 != 0 ? input.byte() % 15 : 0
        setup.ourScale = options & 8 != 0 ? input.byte() % 15 : 0
        setup.sendCapacity = capacity
        setup.receiveCapacity = capacity
        let outbox = FrameOutbox(capacity: 64)
        let connection = TCPConnection(setup, outbox: outbox)
        let filler = [UInt8](repeating: 0x41, count: 2048)
        var frame = [UInt8](repeating: 0, count: FrameOutbox.frameSize)
        var now: UInt64 = 1_000_000_000
        var peerSent: UInt32 = 0
        while !input.isEmpty {
            switch input.byte() % 5 {
            case 0, 1:
                // A segment from the peer, numbers relative to what it sent and what we sent.
                let sequence = 5000 &+ peerSent &+ UInt32(bitPattern: Int32(Int16(bitPattern: UInt16(input.u16()))) * 16)
                let acknowledgment = 1000 &+ UInt32(bitPattern: Int32(Int16(bitPattern: UInt16(input.u16()))) * 16)
                var segment = EmittedSegment(source: peer, destination: us, sourcePort: 40000, destinationPort: 80, sequence: sequence,
                                             acknowledgment: acknowledgment, flags: TCPFlags(rawValue: input.byte()),
                                             window: UInt16(input.u16()))
                let extras = input.byte()
                if extras & 1 != 0 { segment.options.timestamps = (UInt32(input.u16()), UInt32(input.u16())) }
                for _ in 0..<Int(extras >> 6) {
                    let left = 1000 &+ UInt32(input.u16()) * 8
                    segment.options.addSACK(left, left &+ UInt32(input.u16()))
                }
                let length = input.u16() % 1400
                let written = filler.withUnsafeBytes { payload in
                    frame.withUnsafeMutableBytes {
                        SegmentWriter.tcp(segment, payload: UnsafeRawBufferPointer(rebasing: payload[..<length]), link: link, into: $0)
                    }
                }
                guard written > 0 else { continue }
                var headers = PacketHeaders()
                frame.withUnsafeBytes { raw in
                    let packet = UnsafeRawBufferPointer(rebasing: raw[..<written])
                    guard case .ok = PacketParser.parse(packet, linkType: .ethernet, into: &headers) else { return }
                    _ = connection.receive(headers, packet: packet, now: now)
                }
                if sequence == 5000 &+ peerSent { peerSent &+= UInt32(length) }
            case 2:
                let count = input.u16() % 4096
                _ = filler.withUnsafeBytes { connection.write(UnsafeRawBufferPointer(rebasing: $0[..<min(count, $0.count)])) }
            case 3:
                let count = min(connection.readable, input.u16())
                if count > 0 {
                    let (first, second) = connection.read(from: 0, length: count)
                    fuzzCheck(first.count + second.count == count, "a read returned \(first.count + second.count) of \(count) bytes")
                    connection.consume(count)
                }
                if input.byte() == 0xFF { connection.shutdown() }
            default:
                now += UInt64(input.byte()) * 10_000_000
                connection.tick(now: now)
            }
            connection.transmit(now: now)
            fuzzCheck(connection.readable <= capacity, "receive buffer over its capacity")
            fuzzCheck(connection.unacknowledged <= capacity, "send buffer over its capacity")
            for index in 0..<outbox.count {
                fuzzCheck(outbox.frame(index).bytes.count <= FrameOutbox.frameSize, "an emitted frame larger than a slot")
            }
            outbox.removeAll()
        }
    }
}

import Foundation
import MBoxCapture
import MBoxDataPath
import MBoxFlow
import MBoxPacket
import MBoxTCPSplicer
import MBoxTrafficGen
import MBoxTransmit
import Testing

/// The TCP Splicer driven packet by packet: a client's handshake answered by SYN cookie,
/// the request held and handed on, the backend connected with the client's ISN and
/// options, then both directions translated. Every frame the agent wrote or rewrote goes
/// through tshark, which checks IP and TCP checksums and reads the fields back.
@Suite("TCP Splicer") struct SplicerTests {
    let client = Endpoint(address: [10, 0, 0, 1], port: 40_000, mac: [0x02, 0xC1, 0, 0, 0, 1])
    let service = Endpoint(address: [10, 0, 0, 100], port: 80, mac: [0x02, 0x00, 10, 0, 0, 100])
    let backend = Endpoint(address: [10, 0, 0, 11], port: 8080, mac: [0x02, 0xB1, 0, 0, 0, 11])
    let builder = FrameBuilder()

    /// A data path whose only splicer service is 10.0.0.100:80; other flows on the TCP Monitor.
    func makeDataPath() -> DataPath {
        var configuration = DataPathConfiguration()
        configuration.reassembly = nil
        configuration.flowTable = FlowTableConfiguration(capacity: 4096)
        let address = IPAddress(10, 0, 0, 100)
        configuration.stackRules = [StackRule(stack: .tcpSplicer, ipProtocol: IPProtocolNumber.tcp,
                                              destinations: [AddressBlock(address: address, prefix: 128)], ports: [80...80])]
        configuration.splicer = SplicerConfiguration(services: [SplicedService(address: address, port: 80)])
        return DataPath(configuration: configuration)
    }

    /// Packets fed to the data path in writable memory (the splicer rewrites in place),
    /// and every frame that left: emitted by the agent, or forwarded after translation.
    final class Wire {
        let dataPath: DataPath
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2048, alignment: 16)
        var time: UInt64 = 1_700_000_000_000_000_000
        var left: [[UInt8]] = []
        var emitted: [[UInt8]] = []

        init(_ dataPath: DataPath) { self.dataPath = dataPath }
        deinit { buffer.deallocate() }

        @discardableResult
        func send(_ frame: [UInt8]) -> (disposition: PacketDisposition, forwarded: [UInt8]?) {
            time += 1_000_000
            buffer.copyBytes(from: frame)
            let packet = CapturedPacket(timestamp: time, data: UnsafeRawBufferPointer(rebasing: buffer[0..<frame.count]),
                                        originalLength: UInt32(frame.count), linkType: .ethernet)
            let disposition = dataPath.process(packet)
            emitted = (0..<dataPath.outbox.count).map { Array(dataPath.outbox.frame($0).bytes) }
            left += emitted
            var forwarded: [UInt8]?
            if !dataPath.consumed, case .flow = disposition {
                forwarded = Array(buffer[0..<frame.count])
                left.append(forwarded!)
            }
            return (disposition, forwarded)
        }
    }

    func headers(of frame: [UInt8]) -> PacketHeaders {
        var headers = PacketHeaders()
        let status = frame.withUnsafeBytes { PacketParser.parse($0, linkType: .ethernet, into: &headers) }
        #expect(status == .ok)
        return headers
    }

    func checksumsHold(_ frame: [UInt8]) -> Bool {
        let parsed = headers(of: frame)
        return frame.withUnsafeBytes { TransportChecksum.isValid($0, headers: parsed) }
    }

    /// tshark's reading of the frames: IP checksum status, TCP checksum status, raw
    /// sequence and acknowledgment numbers, flags, payload length, per frame.
    func tshark(_ frames: [[UInt8]]) throws -> [[String]] {
        let path = NSTemporaryDirectory() + "splicer-\(UUID().uuidString).pcap"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let writer = try PcapWriter(.file(path: path))
        for (index, frame) in frames.enumerated() { try writer.write(timestamp: UInt64(index) * 1000, bytes: frame) }
        try writer.close()
        let result = try run(["tshark", "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                              "-T", "fields", "-E", "separator=|", "-e", "ip.checksum.status", "-e", "tcp.checksum.status",
                              "-e", "tcp.seq_raw", "-e", "tcp.ack_raw", "-e", "tcp.flags", "-e", "tcp.len", "-e", "ip.src",
                              "-e", "ip.dst", "-e", "tcp.options.mss_val", "-e", "tcp.options.wscale.shift", "-e", "tcp.options.sack_perm",
                              "-e", "arp.opcode"])
        #expect(result.status == 0, "\(result.stderr)")
        return String(decoding: result.stdout, as: UTF8.self).split(separator: "\n").map { $0.split(separator: "|", omittingEmptySubsequences: false).map(String.init) }
    }

    @Test("handshake by cookie, request held, backend connected with the client's ISN, both directions translated (tshark checks every frame)",
          .enabled(if: installed("tshark")))
    func splicesOneConnection() throws {
        let dataPath = makeDataPath()
        let wire = Wire(dataPath)
        let clientISN: UInt32 = 1_000_000
        // SYN: answered by a cookie SYN-ACK, no flow made.
        wire.send(builder.tcp(from: client, to: service, .init(flags: 0x02, sequence: clientISN, acknowledgment: 0,
                                                               options: FrameBuilder.synOptions(timestamp: 5000))))
        #expect(dataPath.flows.count == 0, "a SYN costs no flow")
        try #require(wire.emitted.count == 1)
        let synAck = headers(of: wire.emitted[0])
        #expect(synAck.tcpFlags == [.syn, .ack])
        #expect(synAck.acknowledgment == clientISN + 1)
        #expect(synAck.source == IPAddress(10, 0, 0, 100) && synAck.destination == IPAddress(10, 0, 0, 1))
        #expect(synAck.tcpOptions.hasTimestamps && synAck.tcpOptions.timestampEcho == 5000)
        #expect(synAck.tcpOptions.sackPermitted && synAck.tcpOptions.hasWindowScale)
        let cookie = synAck.sequence
        let ourTimestamp = synAck.tcpOptions.timestampValue

        // The handshake's ACK opens the flow; the request is held and asked about.
        func clientOptions(_ value: UInt32, echo: UInt32) -> [UInt8] { [1, 1, 8, 10] + bigEndianBytes(value) + bigEndianBytes(echo) }
        wire.send(builder.tcp(from: client, to: service, .init(flags: 0x10, sequence: clientISN + 1, acknowledgment: cookie + 1,
                                                               options: clientOptions(5001, echo: ourTimestamp))))
        #expect(dataPath.flows.count == 1)
        #expect(dataPath.counters.flows(on: .tcpSplicer) == 1)
        let request = Array("GET /index.html HTTP/1.1\r\nHost: example.test\r\n\r\n".utf8)
        let sent = wire.send(builder.tcp(from: client, to: service, .init(flags: 0x18, sequence: clientISN + 1, acknowledgment: cookie + 1,
                                                                         options: clientOptions(5002, echo: ourTimestamp), payload: request)))
        let held = try #require(dataPath.splicer?.request)
        #expect(Array(held.bytes) == request)
        #expect(dataPath.consumed && sent.forwarded == nil)

        // A backend is picked: its Ethernet address is asked for, then the SYN goes out.
        guard case let .flow(slot, _) = sent.disposition else { Issue.record("no flow"); return }
        dataPath.connect(BackendChoice(slot: slot, flowID: dataPath.flows.flowID(slot), address: IPAddress(10, 0, 0, 11), port: 8080),
                         now: wire.time)
        let asked = dataPath.outbox.count
        #expect(asked == 1, "an ARP request for the backend")
        let arpReply = [0x02, 0x00, 10, 0, 0, 100] + backend.mac + [0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2] + backend.mac
            + backend.address + [0x02, 0x00, 10, 0, 0, 100] + service.address
        wire.left += (0..<dataPath.outbox.count).map { Array(dataPath.outbox.frame($0).bytes) }
        wire.send(arpReply)
        try #require(wire.emitted.count == 1)
        let syn = headers(of: wire.emitted[0])
        #expect(syn.tcpFlags == .syn && syn.sequence == clientISN, "the backend sees the client's ISN")
        #expect(syn.source == IPAddress(10, 0, 0, 1) && syn.destination == IPAddress(10, 0, 0, 11) && syn.destinationPort == 8080)
        #expect(syn.tcpOptions.mss == 1460 && syn.tcpOptions.hasWindowScale && syn.tcpOptions.windowScale == 7)
        #expect(syn.tcpOptions.sackPermitted && syn.tcpOptions.timestampValue == 5002)

        // The backend answers; the splicer completes its handshake carrying the request.
        let backendISN: UInt32 = 3_000_000_000
        wire.send(builder.tcp(from: backend, to: client, .init(flags: 0x12, sequence: backendISN, acknowledgment: clientISN + 1,
                                                               options: [2, 4, 0x05, 0xB4, 1, 1, 8, 10] + bigEndianBytes(900_000)
                                                                + bigEndianBytes(5002) + [1, 3, 3, 7])))
        try #require(wire.emitted.count == 1)
        let replay = headers(of: wire.emitted[0])
        #expect(replay.sequence == clientISN + 1 && replay.acknowledgment == backendISN + 1)
        #expect(Array(wire.emitted[0][replay.payloadOffset..<(replay.payloadOffset + replay.payloadLength)]) == request)
        #expect(dataPath.splicer?.phase(slot) == "spliced")

        // The backend's response reaches the client from the service, in the cookie's sequence space.
        let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi".utf8)
        let back = wire.send(builder.tcp(from: backend, to: client, .init(flags: 0x18, sequence: backendISN + 1,
                                                                          acknowledgment: clientISN + 1 + UInt32(request.count),
                                                                          options: [1, 1, 8, 10] + bigEndianBytes(900_010) + bigEndianBytes(5002),
                                                                          payload: response)))
        let toClient = headers(of: try #require(back.forwarded))
        #expect(toClient.source == IPAddress(10, 0, 0, 100) && toClient.sourcePort == 80)
        #expect(toClient.sequence == cookie + 1, "backend sequence numbers shifted into the cookie's space")
        #expect(toClient.tcpOptions.timestampValue == ourTimestamp + 10, "the backend's clock continues ours")
        #expect(checksumsHold(back.forwarded!))
        // The client's ACK reaches the backend in its own space.
        let ack = wire.send(builder.tcp(from: client, to: service, .init(flags: 0x10, sequence: clientISN + 1 + UInt32(request.count),
                                                                         acknowledgment: cookie + 1 + UInt32(response.count),
                                                                         options: clientOptions(5003, echo: ourTimestamp + 10))))
        let toBackend = headers(of: try #require(ack.forwarded))
        #expect(toBackend.destination == IPAddress(10, 0, 0, 11) && toBackend.destinationPort == 8080)
        #expect(toBackend.acknowledgment == backendISN + 1 + UInt32(response.count))
        #expect(toBackend.tcpOptions.timestampEcho == 900_010)
        #expect(Array(ack.forwarded![0..<6]) == backend.mac, "addressed to the backend's Ethernet address")

        // tshark: every frame's IP and TCP checksums are good.
        let rows = try tshark(wire.left)
        #expect(rows.count == wire.left.count)
        for (index, row) in rows.enumerated() where row.count > 2 && !row[1].isEmpty {
            #expect(row[0] == "1" && row[1] == "1", "frame \(index): tshark's IP/TCP checksum status \(row[0])/\(row[1]) (1 = good)")
        }
        #expect(rows.contains { $0.count > 11 && $0[11] == "1" }, "tshark read the ARP request")
    }

    @Test("a retransmitted SYN is answered again while the request is awaited, and never ends the connection; a new ISN on the tuple is a new connection")
    func retransmittedSYN() throws {
        let dataPath = makeDataPath()
        let wire = Wire(dataPath)
        let syn = builder.tcp(from: client, to: service, .init(flags: 0x02, sequence: 500, acknowledgment: 0))
        wire.send(syn)
        let cookie = headers(of: wire.emitted[0]).sequence
        let opened = wire.send(builder.tcp(from: client, to: service, .init(flags: 0x10, sequence: 501, acknowledgment: cookie + 1)))
        guard case let .flow(slot, _) = opened.disposition else { Issue.record("no flow"); return }
        let flowID = dataPath.flows.flowID(slot)
        wire.send(syn)
        #expect(wire.emitted.count == 1 && headers(of: wire.emitted[0]).sequence == cookie, "the same SYN-ACK again")
        #expect(dataPath.flows.flowID(slot) == flowID && dataPath.splicer?.phase(slot) == "awaitingRequest")
        wire.send(builder.tcp(from: client, to: service, .init(flags: 0x18, sequence: 501, acknowledgment: cookie + 1,
                                                               payload: Array("GET / HTTP/1.0\r\n\r\n".utf8))))
        wire.send(syn)
        #expect(wire.emitted.isEmpty && dataPath.splicer?.phase(slot) == "requested", "a late duplicate SYN is of no use")
        // The client reuses the port with a new ISN: the old connection ends, the new one gets its own cookie.
        wire.send(builder.tcp(from: client, to: service, .init(flags: 0x02, sequence: 90_000, acknowledgment: 0)))
        #expect(dataPath.flows.count == 0)
        #expect(headers(of: wire.emitted[0]).acknowledgment == 90_001)
    }

    @Test("a SYN flood costs no flow and no memory; ACKs with forged cookies are refused with a RST")
    func synFlood() throws {
        let dataPath = makeDataPath()
        let wire = Wire(dataPath)
        for index in 0..<20_000 {
            var attacker = client
            attacker.address = [10, 1, UInt8(index >> 8 & 0xFF), UInt8(index & 0xFF)]
            attacker.port = UInt16(1024 + index % 60_000)
            wire.send(builder.tcp(from: attacker, to: service, .init(flags: 0x02, sequence: UInt32(index) &* 7919, acknowledgment: 0)))
        }
        #expect(dataPath.flows.count == 0)
        #expect(dataPath.splicer?.counters.synCookiesSent == 20_000)
        // An ACK with a guessed cookie opens nothing.
        for guess in 0..<1000 {
            wire.send(builder.tcp(from: client, to: service, .init(flags: 0x10, sequence: 1, acknowledgment: UInt32(guess) &* 104_729)))
        }
        #expect(dataPath.flows.count == 0)
        #expect(dataPath.splicer?.counters.cookiesRejected == 1000)
        #expect(headers(of: wire.emitted[0]).tcpFlags == .rst)
    }

    @Test("a request no NF takes is refused with a RST to the client; a backend's refusal asks again, then gives up")
    func refusals() throws {
        let dataPath = makeDataPath()
        let wire = Wire(dataPath)
        wire.send(builder.tcp(from: client, to: service, .init(flags: 0x02, sequence: 77, acknowledgment: 0)))
        let cookie = headers(of: wire.emitted[0]).sequence
        wire.send(builder.tcp(from: client, to: service, .init(flags: 0x10, sequence: 78, acknowledgment: cookie + 1)))
        let sent = wire.send(builder.tcp(from: client, to: service, .init(flags: 0x18, sequence: 78, acknowledgment: cookie + 1,
                                                                         payload: Array("GET / HTTP/1.0\r\n\r\n".utf8))))
        guard case let .flow(slot, _) = sent.disposition else { Issue.record("no flow"); return }
        // A backend whose address is known (learnt from ARP) refuses three times.
        let arpReply = [0x02, 0x00, 10, 0, 0, 100] + backend.mac + [0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 2] + backend.mac
            + backend.address + [0x02, 0x00, 10, 0, 0, 100] + service.address
        wire.send(arpReply)
        for attempt in 1...3 {
            dataPath.connect(BackendChoice(slot: slot, flowID: dataPath.flows.flowID(slot), address: IPAddress(10, 0, 0, 11), port: 8080),
                             now: wire.time)
            #expect(headers(of: Array(dataPath.outbox.frame(0).bytes)).tcpFlags == .syn)
            wire.send(builder.tcp(from: backend, to: client, .init(flags: 0x14, sequence: 0, acknowledgment: 78)))
            if attempt < 3 {
                #expect(dataPath.splicer?.request?.attempt == attempt, "asked again after refusal \(attempt)")
            } else {
                #expect(dataPath.splicer?.request == nil)
                let reset = wire.emitted.map(headers(of:)).first { $0.destination == IPAddress(10, 0, 0, 1) }
                #expect(reset?.tcpFlags.contains(.rst) == true, "the client is reset after the last refusal")
            }
        }
        #expect(dataPath.splicer?.counters.backendFailures == 3)
        #expect(dataPath.splicer?.counters.refused == 1)
    }
}

private func bigEndianBytes(_ value: UInt32) -> [UInt8] {
    [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
}

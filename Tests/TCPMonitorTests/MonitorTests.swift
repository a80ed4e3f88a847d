import MBoxPacket
import MBoxTCPMonitor
import MBoxTrafficGen
import Testing

/// Drives one flow of a TCP Monitor with real frames, built and parsed.
final class MonitorHarness {
    let monitor: TCPMonitor
    let slot: Int32 = 2
    let client = Endpoint(address: [10, 0, 0, 1], port: 5555, mac: [2, 0, 0, 0, 0, 1])
    let server = Endpoint(address: [10, 0, 0, 2], port: 80, mac: [2, 0, 0, 0, 0, 2])
    var toServer: [UInt8] = []
    var toClient: [UInt8] = []
    var gapBytes = 0

    init(reassemble: Bool = true) {
        monitor = TCPMonitor(capacity: 4, reassembly: ReassemblyConfiguration())
        monitor.open(slot: slot, flowID: 7, reassemble: reassemble)
    }

    @discardableResult
    func send(_ fromClient: Bool, _ flags: UInt8, seq: UInt32, ack: UInt32 = 0, _ payload: String = "",
              options: [UInt8] = [], window: UInt16 = 1000) -> TCPPacketResult {
        var segment = FrameBuilder.TCPSegment(flags: flags, sequence: seq, acknowledgment: ack, options: options,
                                              payload: Array(payload.utf8))
        segment.window = window
        let frame = fromClient ? FrameBuilder().tcp(from: client, to: server, segment)
                               : FrameBuilder().tcp(from: server, to: client, segment)
        return frame.withUnsafeBytes { bytes in
            var headers = PacketHeaders()
            #expect(PacketParser.parse(bytes, linkType: .ethernet, into: &headers) == .ok)
            monitor.beginPacket()
            let result = monitor.process(slot: slot, headers: headers, packet: bytes, fromClient: fromClient)
            for chunk in monitor.chunks {
                if chunk.isGap { gapBytes += chunk.length }
                else if chunk.direction == .toServer { toServer += chunk.buffer } else { toClient += chunk.buffer }
            }
            return result
        }
    }

    var states: (TCPState, TCPState) {
        let state = monitor.state(slot)
        return (state.client.state, state.server.state)
    }
}

let SYN: UInt8 = 0x02, ACK: UInt8 = 0x10, FIN: UInt8 = 0x01, RST: UInt8 = 0x04, PSH: UInt8 = 0x08

@Suite("TCP Monitor")
struct MonitorTests {
    @Test("handshake, data, client closes first: both stacks, every step")
    func clientClosesFirst() {
        let h = MonitorHarness()
        let syn = h.send(true, SYN, seq: 100)
        #expect(h.states == (.synSent, .synReceived))
        #expect(syn.sender.side == .client && syn.sender.cause == .client && syn.sender.after == .synSent)
        #expect(syn.receiver.side == .server && syn.receiver.cause == .client && syn.receiver.after == .synReceived)
        let synAck = h.send(false, SYN | ACK, seq: 500, ack: 101)
        #expect(h.states == (.established, .synReceived))
        #expect(synAck.sender.side == .server && synAck.receiver.side == .client && synAck.receiver.stateChanged)
        h.send(true, ACK, seq: 101, ack: 501)
        #expect(h.states == (.established, .established))
        h.send(true, ACK | PSH, seq: 101, ack: 501, "GET / HTTP/1.1\r\n\r\n")
        h.send(false, ACK | PSH, seq: 501, ack: 119, "HTTP/1.1 200 OK\r\n\r\n")
        h.send(true, FIN | ACK, seq: 119, ack: 520)
        #expect(h.states == (.finWait1, .closeWait))
        h.send(false, ACK, seq: 520, ack: 120)
        #expect(h.states == (.finWait2, .closeWait))
        h.send(false, FIN | ACK, seq: 520, ack: 120)
        #expect(h.states == (.timeWait, .lastAck))
        let last = h.send(true, ACK, seq: 120, ack: 521)
        #expect(h.states == (.timeWait, .closed))
        #expect(last.closedFlow)
        #expect(String(decoding: h.toServer, as: UTF8.self) == "GET / HTTP/1.1\r\n\r\n")
        #expect(String(decoding: h.toClient, as: UTF8.self) == "HTTP/1.1 200 OK\r\n\r\n")
        #expect(h.gapBytes == 0)
    }

    @Test("server closes first, FIN and ACK together")
    func serverClosesFirst() {
        let h = MonitorHarness()
        h.send(true, SYN, seq: 1)
        h.send(false, SYN | ACK, seq: 9, ack: 2)
        h.send(true, ACK, seq: 2, ack: 10)
        h.send(false, FIN | ACK, seq: 10, ack: 2)
        #expect(h.states == (.closeWait, .finWait1))
        h.send(true, FIN | ACK, seq: 2, ack: 11)
        #expect(h.states == (.lastAck, .timeWait))
        let last = h.send(false, ACK, seq: 11, ack: 3)
        #expect(h.states == (.closed, .timeWait) && last.closedFlow)
        #expect(h.monitor.counters.closedFlows == 1)
    }

    @Test("simultaneous open: both SYN_SENT, both SYN_RCVD, both ESTABLISHED")
    func simultaneousOpen() {
        let h = MonitorHarness()
        h.send(true, SYN, seq: 100)
        h.send(false, SYN, seq: 300)
        #expect(h.states == (.synReceived, .synReceived))
        h.send(true, SYN | ACK, seq: 100, ack: 301)
        h.send(false, SYN | ACK, seq: 300, ack: 101)
        #expect(h.states == (.established, .established))
    }

    @Test("simultaneous close: CLOSING on both sides, then TIME_WAIT")
    func simultaneousClose() {
        let h = MonitorHarness()
        h.send(true, SYN, seq: 1)
        h.send(false, SYN | ACK, seq: 9, ack: 2)
        h.send(true, ACK, seq: 2, ack: 10)
        h.send(true, FIN | ACK, seq: 2, ack: 10)
        h.send(false, FIN | ACK, seq: 10, ack: 2)  // crossed: does not ACK the client's FIN
        #expect(h.states == (.closing, .closing))
        h.send(true, ACK, seq: 3, ack: 11)
        h.send(false, ACK, seq: 11, ack: 3)
        #expect(h.states == (.timeWait, .timeWait))
        #expect(h.monitor.state(h.slot).flags.closed)
    }

    @Test("picked up mid-stream: both established, stream starts at the first byte seen")
    func midStream() {
        let h = MonitorHarness()
        h.send(true, ACK | PSH, seq: 7000, ack: 9000, "tail of a request")
        #expect(h.states == (.established, .established))
        #expect(h.monitor.state(h.slot).client.flags.contains(.pickedUpMidStream))
        h.send(false, ACK | PSH, seq: 9000, ack: 7017, "reply")
        #expect(String(decoding: h.toServer, as: UTF8.self) == "tail of a request")
        #expect(String(decoding: h.toClient, as: UTF8.self) == "reply")
        #expect(h.monitor.counters.midStreamPickups == 1)
    }

    @Test("a RST at exactly the sequence the receiver expects closes both stacks")
    func validReset() {
        let h = MonitorHarness()
        h.send(true, SYN, seq: 1)
        h.send(false, SYN | ACK, seq: 9, ack: 2, window: 1000)
        h.send(true, ACK, seq: 2, ack: 10, window: 1000)
        let reset = h.send(false, RST, seq: 10)  // the client acknowledged up to 10
        #expect(h.states == (.closed, .closed))
        #expect(reset.closedFlow && reset.anomalies.isEmpty)
    }

    @Test("a RST elsewhere — inside the window (RFC 5961: a challenge ACK) or outside — is ignored and counted")
    func invalidReset() {
        let h = MonitorHarness()
        h.send(true, SYN, seq: 1)
        h.send(false, SYN | ACK, seq: 9, ack: 2, window: 1000)
        h.send(true, ACK, seq: 2, ack: 10, window: 1000)
        let inWindow = h.send(false, RST, seq: 500)
        #expect(h.states == (.established, .established))
        #expect(inWindow.anomalies.contains(.invalidReset) && !inWindow.closedFlow)
        let reset = h.send(false, RST, seq: 5000)
        #expect(h.states == (.established, .established))
        #expect(reset.anomalies.contains(.invalidReset) && !reset.closedFlow)
        let blind = h.send(true, RST, seq: 1_000_000)
        #expect(blind.anomalies.contains(.invalidReset))
        #expect(h.monitor.counters.invalidResets == 3)
    }

    @Test("data on a SYN the server does not acknowledge: the connection is established and the decoy is not stream data")
    func synWithData() {
        let h = MonitorHarness()
        h.send(true, SYN, seq: 100, "X")  // one decoy byte the server drops
        h.send(false, SYN | ACK, seq: 900, ack: 101, window: 1000)  // acknowledges the SYN only
        h.send(true, ACK, seq: 101, ack: 901, window: 1000)
        #expect(h.states == (.established, .established))
        h.send(true, ACK | PSH, seq: 101, ack: 901, "GET /attack")
        h.send(false, ACK, seq: 901, ack: 112)
        #expect(String(decoding: h.toServer, as: UTF8.self) == "GET /attack")
    }

    @Test("a RST answering a SYN counts only if it acknowledges the SYN")
    func resetInSynSent() {
        let h = MonitorHarness()
        h.send(true, SYN, seq: 41)
        #expect(h.send(false, RST | ACK, seq: 0, ack: 99).anomalies.contains(.invalidReset))
        #expect(h.send(false, RST | ACK, seq: 0, ack: 42).closedFlow)
    }

    @Test("windows scale once both SYNs offered it")
    func windowScaling() {
        let h = MonitorHarness()
        h.send(true, SYN, seq: 1, options: FrameBuilder.synOptions(timestamp: 1))
        h.send(false, SYN | ACK, seq: 9, ack: 2, options: FrameBuilder.synOptions(timestamp: 2), window: 500)
        #expect(h.monitor.state(h.slot).server.window == 500)  // never scaled on a SYN
        h.send(false, ACK, seq: 10, ack: 2, window: 500)
        #expect(h.monitor.state(h.slot).server.window == 500 << 7)
        #expect(h.monitor.state(h.slot).client.mss == 1460)
    }

    @Test("sequence numbers wrapping through zero keep the stream whole")
    func wrapAround() {
        let h = MonitorHarness()
        let isn = UInt32.max - 5
        h.send(true, SYN, seq: isn)
        h.send(false, SYN | ACK, seq: 9, ack: isn &+ 1)
        h.send(true, ACK, seq: isn &+ 1, ack: 10)
        h.send(true, ACK, seq: isn &+ 7, ack: 10, "world")    // after the wrap, out of order
        h.send(true, ACK, seq: isn &+ 1, ack: 10, "hello ")
        h.send(true, FIN | ACK, seq: isn &+ 12, ack: 10)
        #expect(String(decoding: h.toServer, as: UTF8.self) == "hello world")
        #expect(h.states.0 == .finWait1)
    }

    @Test("data the receiver ACKed but the monitor never saw is a gap")
    func ackedGap() {
        let h = MonitorHarness()
        h.send(true, SYN, seq: 0)
        h.send(false, SYN | ACK, seq: 0, ack: 1)
        h.send(true, ACK, seq: 1, ack: 1, "abc")
        h.send(true, ACK, seq: 10, ack: 1, "xyz")  // bytes 4..9 never seen
        h.send(false, ACK, seq: 1, ack: 13)
        #expect(h.gapBytes == 6)
        #expect(String(decoding: h.toServer, as: UTF8.self) == "abcxyz")
    }

    @Test("data past the receiver's advertised window is counted and not reassembled")
    func beyondWindow() {
        let h = MonitorHarness()
        h.send(true, SYN, seq: 0)
        h.send(false, SYN | ACK, seq: 0, ack: 1, window: 10)
        h.send(true, ACK, seq: 1, ack: 1)
        let evasive = h.send(true, ACK, seq: 1, ack: 1, "JUNK-JUNK-JUNK!!")
        #expect(evasive.anomalies.contains(.outOfWindow))
        #expect(h.toServer.isEmpty)
        h.send(true, ACK, seq: 1, ack: 1, "0123456789")
        #expect(String(decoding: h.toServer, as: UTF8.self) == "0123456789")
        #expect(h.monitor.counters.outOfWindow == 1)
    }

    @Test("without reassembly the monitor tracks state and delivers no bytes")
    func stateOnly() {
        let h = MonitorHarness(reassemble: false)
        h.send(true, SYN, seq: 0)
        h.send(false, SYN | ACK, seq: 0, ack: 1)
        h.send(true, ACK, seq: 1, ack: 1, "abc")
        #expect(h.states == (.established, .established))
        #expect(h.toServer.isEmpty)
        #expect(TCPMonitor.bytesPerFlow <= 96)
    }
}

import MBoxCapture
import MBoxPacket
import MBoxTCPSplicer
import MBoxTCPEndpoint
import MBoxTransmit

/// The TCP Split Proxy μStack: each connection is two TCP connections the agent runs
/// itself — one answering the client for the service, one to the backend the NFs chose —
/// with the bytes moved between them. NFs that subscribe to `BYTESTREAM` see each chunk
/// on its way and may rewrite it (`StreamEdits`: insert, delete, replace, hold back);
/// since the two connections have their own sequence spaces, a rewrite changes nothing
/// either end must know. Bounded buffers: a slow reader on one side closes the window on
/// the other.
///
/// The Splicer runs each connection's set-up (SYN cookies, the held request, `FLOW_REQ`,
/// the backend's handshake) and hands it over (`adopt`).
public final class TCPSplitProxy {
    public let configuration: SplitProxyConfiguration
    public private(set) var counters = SplitProxyCounters()
    let outbox: FrameOutbox
    private var connections: [ProxiedConnection?] = []
    private var freeIndices: [Int32] = []
    /// Per flow slot: its connection's index, `none` or `closed`.
    private let indexOf: UnsafeMutablePointer<Int32>
    private static let none: Int32 = -1
    private static let closed: Int32 = -2
    /// Indices of live connections (for the timers).
    private var live: [Int32] = []
    /// Whether NFs read byte streams: relayed bytes then wait for their edits (`commit`).
    public var rewriting = false
    /// Chunks the last packet staged for NFs (one per direction at most).
    public private(set) var staged: [ByteStreamChunk] = []
    private var stagedConnection: ProxiedConnection?
    private let staging: (toServer: UnsafeMutableRawPointer, toClient: UnsafeMutableRawPointer)
    /// Connection-level totals of finished connections, plus live ones on demand.
    private var finishedTotals = ConnectionCounters()

    public init(configuration: SplitProxyConfiguration = SplitProxyConfiguration(), flowCapacity: Int, outbox: FrameOutbox) {
        self.configuration = configuration
        self.outbox = outbox
        indexOf = .allocate(capacity: flowCapacity)
        indexOf.initialize(repeating: Self.none, count: flowCapacity)
        staging = (.allocate(byteCount: configuration.bufferSize, alignment: 16), .allocate(byteCount: configuration.bufferSize, alignment: 16))
        staged.reserveCapacity(2)
        live.reserveCapacity(256)
    }

    deinit {
        indexOf.deallocate()
        staging.toServer.deallocate()
        staging.toClient.deallocate()
    }

    /// Whether `slot` is a leg of a connection the proxy runs (or ran).
    @inline(__always)
    public func owns(_ slot: Int32) -> Bool { indexOf[Int(slot)] != Self.none }

    /// TCP totals over every connection so far (segments, retransmissions, ...).
    public var endpointCounters: ConnectionCounters {
        var total = finishedTotals
        for index in live {
            if let connection = connections[Int(index)] {
                total.add(connection.client.counters)
                if let backend = connection.backend { total.add(backend.counters) }
            }
        }
        return total
    }

    /// Each live connection's endpoints, for diagnostics.
    public var stateDescription: String {
        live.compactMap { connections[Int($0)] }.map { "client: \($0.client.stateDescription)\nbackend: \($0.backend?.stateDescription ?? "none")" }
            .joined(separator: "\n")
    }

    // MARK: Taking over

    /// Takes over a connection whose handshakes the splicer completed (`flowID`: its client
    /// leg's flow). False when no room is left: both ends then get a RST.
    ///
    /// With `response`, an NF answered the request itself (the TCP Endpoint): there is no
    /// backend; the client gets `response`, then a FIN when `close`.
    @discardableResult
    public func adopt(_ handoff: SplitHandoff, flowID: UInt64, now: UInt64,
                      response: (bytes: [UInt8], close: Bool)? = nil) -> Bool {
        let milliseconds = UInt32(truncatingIfNeeded: now / 1_000_000)
        var toClient = ConnectionSetup(local: handoff.service.address, localPort: handoff.service.port, remote: handoff.client,
                                       remotePort: handoff.clientPort,
                                       link: LinkFraming(destination: handoff.clientMAC, source: handoff.service.mac),
                                       egress: .port(handoff.clientInterface), sendNext: handoff.cookieISN &+ 1,
                                       receiveNext: handoff.clientISN &+ 1, peerMSS: handoff.clientMSS,
                                       peerWindow: UInt32(handoff.clientWindow) << UInt32(handoff.clientScale))
        toClient.peerScale = handoff.clientScale
        toClient.ourScale = handoff.ourScale
        toClient.sackPermitted = handoff.clientSACK
        toClient.timestamps = handoff.clientTimestamps
        toClient.peerTimestamp = handoff.clientTimestamp
        toClient.timestampOffset = handoff.ourTimestamp &- milliseconds &+ 1
        var toBackend = ConnectionSetup(local: handoff.client, localPort: handoff.clientPort, remote: handoff.backend,
                                        remotePort: handoff.backendPort,
                                        link: LinkFraming(destination: handoff.backendMAC, source: handoff.service.mac),
                                        egress: .port(handoff.backendInterface), sendNext: handoff.clientISN &+ 1,
                                        receiveNext: handoff.backendISN &+ 1, peerMSS: handoff.backendMSS,
                                        peerWindow: UInt32(handoff.backendWindow))
        toBackend.peerScale = handoff.backendScale
        toBackend.ourScale = handoff.backendSideScale
        toBackend.sackPermitted = handoff.backendSACK
        toBackend.timestamps = handoff.backendTimestamps
        toBackend.peerTimestamp = handoff.backendTimestamp
        toBackend.timestampOffset = handoff.clientTimestamp &- milliseconds &+ 1
        toClient.sendCapacity = configuration.bufferSize
        toClient.receiveCapacity = configuration.bufferSize
        toBackend.sendCapacity = configuration.bufferSize
        toBackend.receiveCapacity = configuration.bufferSize
        let client = TCPConnection(toClient, outbox: outbox)
        let backend = response == nil ? TCPConnection(toBackend, outbox: outbox) : nil
        guard connections.count - freeIndices.count < configuration.maximumConnections else {
            counters.refused &+= 1
            client.abort()
            backend?.abort()
            indexOf[Int(handoff.clientLeg)] = Self.closed
            if handoff.backendLeg >= 0 { indexOf[Int(handoff.backendLeg)] = Self.closed }
            return false
        }
        let connection = ProxiedConnection(clientLeg: handoff.clientLeg, backendLeg: handoff.backendLeg, flowID: flowID,
                                           client: client, backend: backend)
        let index: Int32
        if let free = freeIndices.popLast() {
            index = free
            connections[Int(index)] = connection
        } else {
            index = Int32(connections.count)
            connections.append(connection)
        }
        indexOf[Int(handoff.clientLeg)] = index
        if handoff.backendLeg >= 0 { indexOf[Int(handoff.backendLeg)] = index }
        live.append(index)
        counters.connections &+= 1
        counters.active += 1
        // The request the splicer held is the first of the client's stream; the backend's
        // SYN-ACK still awaits our ACK (it goes with the request).
        client.deliver(handoff.request)
        backend?.acknowledgeSoon()
        if let response {
            counters.answered &+= 1
            response.bytes.withUnsafeBytes { _ = client.write($0) }
            if response.close { client.shutdown() }
        }
        stagedConnection = nil
        staged.removeAll(keepingCapacity: true)
        relay(connection, now: now)
        return true
    }

    // MARK: Packets

    /// A segment of either leg. Returns the connection's client leg (the flow NFs know),
    /// nil when the slot's connection is gone (the segment is answered with a RST).
    public func process(slot: Int32, headers: PacketHeaders, packet: CapturedPacket, now: UInt64) -> Int32? {
        stagedConnection = nil
        if !staged.isEmpty { staged.removeAll(keepingCapacity: true) }
        let index = indexOf[Int(slot)]
        guard index >= 0, let connection = connections[Int(index)] else {
            // Finished: a late segment (a FIN whose ACK was lost) learns the connection is gone.
            if !headers.tcpFlags.contains(.rst) { RejectResponder.reject(packet, headers: headers, into: outbox) }
            return nil
        }
        let fromBackend = slot == connection.backendLeg
        let endpoint = fromBackend ? connection.backend! : connection.client
        let arrival = endpoint.receive(headers, packet: packet.data, now: now)
        if arrival.contains(.reset) {
            counters.resets &+= 1
            if fromBackend { connection.client.abort() } else { connection.backend?.abort() }
        }
        relay(connection, now: now)
        return connection.clientLeg
    }

    /// Moves what each side received toward the other, as far as the other's send buffer
    /// allows; with NFs rewriting, stages it for them instead (`commit` finishes).
    private func relay(_ connection: ProxiedConnection, now: UInt64) {
        guard connection.backend != nil else {
            // Answered by an NF: what the client sends after its request has no reader.
            counters.bytesDiscarded &+= UInt64(connection.client.readable)
            connection.client.consume(connection.client.readable)
            return finishRelay(connection, now: now)
        }
        for direction in StreamDirection.both {
            let (source, destination) = connection.ends(direction)
            let available = source.readable
            guard available > 0 else { continue }
            if rewriting {
                let length = min(available, max(0, destination.writable - configuration.insertAllowance), configuration.bufferSize)
                guard length > 0 else { continue }
                let buffer = direction == .toServer ? staging.toServer : staging.toClient
                source.copyReceived(from: 0, length: length, to: buffer)
                staged.append(ByteStreamChunk(slot: connection.clientLeg, flowID: connection.flowID, direction: direction,
                                              offset: direction == .toServer ? connection.toServerOffset : connection.toClientOffset,
                                              bytes: UnsafeRawBufferPointer(start: buffer, count: length),
                                              final: source.finReceived && length == available))
                stagedConnection = connection
            } else {
                let length = min(available, destination.writable)
                guard length > 0 else { continue }
                let (first, second) = source.read(from: 0, length: length)
                destination.write(first)
                destination.write(second)
                source.consume(length)
                advance(connection, direction, by: length, sent: length)
            }
        }
        if staged.isEmpty { finishRelay(connection, now: now) }
    }

    /// Applies the NFs' edits to the chunks the last packet staged and sends the result on.
    public func commit(_ edits: StreamEdits, now: UInt64) {
        guard let connection = stagedConnection else { return }
        for (position, chunk) in staged.enumerated() {
            let (source, destination) = connection.ends(chunk.direction)
            let hold = chunk.final ? nil : edits.holds[position]
            let consumed = min(hold ?? chunk.bytes.count, chunk.bytes.count)
            let changes = edits.edits[position].filter { $0.range.upperBound <= consumed }.sorted { $0.range.lowerBound < $1.range.lowerBound }
            let growth = changes.reduce(0) { $0 + $1.replacement.count - $1.range.count }
            var sent = 0
            if changes.isEmpty || consumed + growth > destination.writable {
                if !changes.isEmpty { counters.editsRefused &+= UInt64(changes.count) }
                sent = destination.write(UnsafeRawBufferPointer(rebasing: chunk.bytes[..<consumed]))
            } else {
                counters.chunksEdited &+= 1
                var cursor = 0
                for change in changes {
                    sent += destination.write(UnsafeRawBufferPointer(rebasing: chunk.bytes[cursor..<change.range.lowerBound]))
                    sent += edits.bytes(of: change).withUnsafeBytes { destination.write($0) }
                    cursor = change.range.upperBound
                }
                sent += destination.write(UnsafeRawBufferPointer(rebasing: chunk.bytes[cursor..<consumed]))
            }
            source.consume(consumed)
            advance(connection, chunk.direction, by: consumed, sent: sent)
        }
        counters.editsRefused &+= UInt64(edits.refused)
        staged.removeAll(keepingCapacity: true)
        stagedConnection = nil
        finishRelay(connection, now: now)
    }

    private func advance(_ connection: ProxiedConnection, _ direction: StreamDirection, by consumed: Int, sent: Int) {
        if direction == .toServer {
            connection.toServerOffset &+= UInt64(consumed)
            counters.bytesToServer &+= UInt64(sent)
        } else {
            connection.toClientOffset &+= UInt64(consumed)
            counters.bytesToClient &+= UInt64(sent)
        }
    }

    /// A side that finished and whose bytes all moved on: its FIN goes on too. Then both
    /// endpoints send what they can.
    private func finishRelay(_ connection: ProxiedConnection, now: UInt64) {
        if let backend = connection.backend {
            if connection.client.finReceived, connection.client.readable == 0 { backend.shutdown() }
            if backend.finReceived, backend.readable == 0 { connection.client.shutdown() }
        } else if connection.client.finReceived {
            connection.client.shutdown()
        }
        connection.client.transmit(now: now)
        connection.backend?.transmit(now: now)
        if connection.isFinished { retire(connection) }
    }

    // MARK: Timers and ends

    /// Runs the endpoints' timers (retransmission, persist, delayed ACK).
    public func tick(now: UInt64) {
        var position = 0
        while position < live.count {
            guard let connection = connections[Int(live[position])] else {
                live.remove(at: position)
                continue
            }
            if connection.client.nextDeadline != 0, connection.client.nextDeadline <= now { connection.client.tick(now: now) }
            if let backend = connection.backend {
                if backend.nextDeadline != 0, backend.nextDeadline <= now { backend.tick(now: now) }
                if connection.client.wasReset != backend.wasReset {
                    // One side gave up after its retransmissions: the other is told.
                    counters.resets &+= 1
                    connection.client.abort()
                    backend.abort()
                }
            }
            if connection.isFinished {
                retire(connection)
            } else {
                position += 1
            }
        }
    }

    /// Both sides finished: buffers are freed; the legs' late segments get RSTs.
    private func retire(_ connection: ProxiedConnection) {
        let index = indexOf[Int(connection.clientLeg)]
        guard index >= 0 else { return }
        finishedTotals.add(connection.client.counters)
        if let backend = connection.backend { finishedTotals.add(backend.counters) }
        if !connection.client.wasReset, connection.backend?.wasReset != true { counters.finished &+= 1 }
        connections[Int(index)] = nil
        freeIndices.append(index)
        if let position = live.firstIndex(of: index) { live.swapAt(position, live.count - 1); live.removeLast() }
        indexOf[Int(connection.clientLeg)] = Self.closed
        if connection.backendLeg >= 0 { indexOf[Int(connection.backendLeg)] = Self.closed }
        counters.active -= 1
    }

    /// The flow in `slot` ended (idle, evicted, end of input): a live connection is reset
    /// both ways.
    public func close(slot: Int32) {
        let index = indexOf[Int(slot)]
        if index >= 0, let connection = connections[Int(index)] {
            counters.cutOff &+= 1
            connection.client.abort()
            connection.backend?.abort()
            retire(connection)
        }
        indexOf[Int(slot)] = Self.none
    }
}

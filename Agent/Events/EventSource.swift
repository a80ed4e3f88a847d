import MBoxAppLayer
import MBoxCapture
import MBoxDataPath
import MBoxPacket
import MBoxTCPMonitor

/// The stage between the μStack and the NFs: turns what the data path did with one
/// packet into events, in the order NFs must see them:
///
/// 1. `DATA_RDY` for streams of flows that ended during this packet (flushed data),
/// 2. `FLOW_DEST` for those flows,
/// 3. `FLOW` / `FLOW/TCP` when the packet started a flow,
/// 4. `PKT` (or two `PKT/TCP`: the sender's stack, then the receiver's),
/// 5. `EVENT/DECODER_ANOMALY` / `EVENT/STREAM_ANOMALY` when something in it was wrong,
/// 6. `DATA_RDY` for the packet's own flow,
///
/// and `APP/…` after what completed them (a datagram's before its `PKT`, a stream's after
/// its `DATA_RDY`, a flow's end before its `FLOW_DEST`) when the chain has an
/// application-layer stage (`appLayer`): the stage is fed here, once per byte, and NFs
/// read its records during dispatch.
///
/// Only types some subscription wants are built (`FLOW` and `FLOW_DEST` always are: NFs
/// keep per-flow state by them). The buffer is reused, so nothing is allocated per packet.
public final class EventSource {
    public let types: EventTypes
    /// Bit per event type worth building.
    public var wantedTypes: UInt64
    /// The last packet's events, valid until the next `collect`.
    public var events: UnsafeBufferPointer<Event> { UnsafeBufferPointer(start: storage, count: count) }
    public private(set) var produced = [UInt64](repeating: 0, count: EventTypes.maximumCount)
    // A buffer kept between packets (grown when a packet needs more): no allocation, no
    // copy-on-write check per event.
    private var storage: UnsafeMutablePointer<Event>
    private var capacity = 64
    private var count = 0

    /// The application-layer stage this source feeds, when some NF reads application data.
    public let appLayer: AppLayerStage?
    /// Whether some NF subscribes to an `APP/…` type (the stage's records become events).
    private let publishesApp: Bool
    /// `appLayer != nil`, tested per packet without touching the reference.
    private let feedsAppLayer: Bool

    public init(types: EventTypes, wantedTypes: UInt64, appLayer: AppLayerStage? = nil) {
        self.types = types
        self.wantedTypes = wantedTypes
        self.appLayer = appLayer
        var appTypes: UInt64 = 0
        for type in 0..<types.count where types.isA(EventTypeID(UInt8(type)), .app) { appTypes |= 1 << UInt64(type) }
        publishesApp = appLayer != nil && wantedTypes & appTypes != 0
        feedsAppLayer = appLayer != nil
        storage = .allocate(capacity: capacity)
    }

    deinit {
        storage.deinitialize(count: count)
        storage.deallocate()
    }

    @inline(__always)
    private func reset() {
        storage.deinitialize(count: count)
        count = 0
        if feedsAppLayer { appLayer.unsafelyUnwrapped.beginPacket() }
    }

    @inline(__always)
    private func wants(_ type: EventTypeID) -> Bool { wantedTypes & (1 << UInt64(type.rawValue)) != 0 }

    @inline(__always)
    private func append(_ event: Event) {
        produced[Int(event.type.rawValue)] &+= 1
        if count == capacity {
            let larger = UnsafeMutablePointer<Event>.allocate(capacity: capacity * 2)
            larger.moveInitialize(from: storage, count: count)
            storage.deallocate()
            storage = larger
            capacity *= 2
        }
        (storage + count).initialize(to: event)
        count += 1
    }

    /// Builds the events of the packet just processed by `dataPath`.
    @inline(__always)
    public func collect(_ dataPath: DataPath, packet: CapturedPacket, disposition: PacketDisposition) {
        reset()
        guard case let .flow(slot, fromClient) = disposition else {
            if !dataPath.endedFlows.isEmpty { endedFlows(dataPath, timestamp: packet.timestamp, current: 0) }
            return
        }
        let flowID = dataPath.flows.flowID(slot)
        if !dataPath.endedFlows.isEmpty { endedFlows(dataPath, timestamp: packet.timestamp, current: flowID) }
        let headers = dataPath.headers
        let sender: FlowSide = fromClient ? .client : .server
        let isTCP = headers.pointee.isTCP
        if dataPath.startedFlow {
            append(Event(type: isTCP ? .flowTCP : .flow, side: sender, cause: sender, slot: slot, flowID: flowID,
                         timestamp: packet.timestamp))
        }
        if feedsAppLayer, headers.pointee.isUDP, headers.pointee.payloadLength > 0 {
            datagram(slot: slot, flowID: flowID, fromClient: fromClient, packet: packet, headers: headers)
        }
        if let result = dataPath.tcpResult {
            if wants(.packetTCP) {
                var snapshot = self.snapshot(dataPath, slot: slot, headers: headers)
                // The sender's stack is updated first: the receiver has not seen the packet yet.
                if sender == .client { snapshot.serverState = result.receiver.before } else { snapshot.clientState = result.receiver.before }
                append(Event(type: .packetTCP, side: sender, cause: sender, slot: slot, flowID: flowID,
                             timestamp: packet.timestamp, snapshot: snapshot, packet: packet.data, headers: headers))
                append(Event(type: .packetTCP, side: sender.peer, cause: sender, slot: slot, flowID: flowID,
                             timestamp: packet.timestamp, snapshot: self.snapshot(dataPath, slot: slot, headers: headers),
                             packet: packet.data, headers: headers))
            }
        } else if wants(.packet) {
            append(Event(type: .packet, side: sender, cause: sender, slot: slot, flowID: flowID,
                         timestamp: packet.timestamp, packet: packet.data, headers: headers))
        }
        if feedsAppLayer, let result = dataPath.tcpResult, headers.pointee.payloadLength == 0,
           Self.done(result.sender.after), Self.done(result.receiver.after), dataPath.tcpState(slot).flags.established {
            // A data-less packet closed the connection: no stream data follows.
            let appLayer = self.appLayer.unsafelyUnwrapped
            appEvents(appLayer.finish(slot: slot, flowID: flowID), appLayer, timestamp: packet.timestamp, packet: packet.data,
                      headers: headers)
        }
        if dataPath.runsActiveStacks { activeStackEvents(dataPath, packet: packet, headers: headers) }
        if !dataPath.anomalies.isEmpty, wants(.decoderAnomaly) {
            append(Event(type: .decoderAnomaly, side: sender, cause: sender, slot: slot, flowID: flowID, timestamp: packet.timestamp,
                         packet: packet.data, headers: headers, detail: EventDetail(value: UInt64(dataPath.anomalies.rawValue))))
        }
        if let anomalies = dataPath.tcpResult?.anomalies, !anomalies.isEmpty, wants(.streamAnomaly) {
            append(Event(type: .streamAnomaly, side: sender, cause: sender, slot: slot, flowID: flowID, timestamp: packet.timestamp,
                         packet: packet.data, headers: headers, detail: EventDetail(value: UInt64(anomalies.rawValue))))
        }
        if wants(.dataReady) || feedsAppLayer {
            let state = dataPath.tcpState(slot)
            for chunk in dataPath.chunks where chunk.flowID == flowID {
                let added = feedsAppLayer ? stream(chunk, serverPort: dataPath.flows.key(slot).serverPort) : 0..<0
                if wants(.dataReady) {
                    append(dataEvent(chunk, state: state, dataPath: dataPath, timestamp: packet.timestamp,
                                     packet: packet.data, headers: headers, records: added))
                }
                if !added.isEmpty {
                    appEvents(added, appLayer.unsafelyUnwrapped, timestamp: packet.timestamp, packet: packet.data, headers: headers)
                }
            }
        }
    }

    /// The Splicer's request (`FLOW_REQ`) and the Split Proxy's staged bytes (`BYTESTREAM`),
    /// for data paths that run them; out of line, so other data paths pay one test a packet.
    @inline(never)
    private func activeStackEvents(_ dataPath: DataPath, packet: CapturedPacket, headers: UnsafeMutablePointer<PacketHeaders>) {
        if let request = dataPath.pendingRequest {
            // Always built: without an NF's answer the splicer refuses the client.
            let requestFlow = dataPath.flows.flowID(request.slot)
            if feedsAppLayer {
                // The client's stream from its start: parsed once (asked again, the stage has it).
                let appLayer = self.appLayer.unsafelyUnwrapped
                let added = appLayer.stream(slot: request.slot, flowID: requestFlow,
                                            serverPort: dataPath.flows.key(request.slot).serverPort, toServer: true, offset: 0,
                                            bytes: request.bytes)
                appEvents(added, appLayer, timestamp: packet.timestamp, packet: packet.data, headers: headers)
            }
            append(Event(type: .flowRequest, side: .server, cause: .client, slot: request.slot, flowID: requestFlow,
                         timestamp: packet.timestamp, packet: packet.data, headers: headers,
                         data: request.bytes.baseAddress.map { UnsafeRawPointer($0) }, dataOffset: 0, dataLength: request.bytes.count,
                         detail: EventDetail(value: UInt64(request.attempt))))
        }
        let staged = dataPath.stagedChunkCount
        if staged > 0 {
            for index in 0..<staged {
                let chunk = dataPath.stagedChunk(index)
                let cause: FlowSide = chunk.direction == .toServer ? .client : .server
                append(Event(type: .byteStream, side: cause.peer, cause: cause, slot: chunk.slot, flowID: chunk.flowID,
                             timestamp: packet.timestamp, packet: packet.data, headers: headers,
                             data: chunk.bytes.baseAddress, dataOffset: chunk.offset, dataLength: chunk.bytes.count,
                             detail: EventDetail(index: Int32(index), value: chunk.final ? 1 : 0)))
            }
        }
    }

    /// Feeds a chunk to the application-layer stage (gaps are not parsed); the records it
    /// completed. Only called when there is a stage (`feedsAppLayer`).
    @inline(never)
    private func stream(_ chunk: StreamChunk, serverPort: UInt16) -> Range<Int> {
        guard let bytes = chunk.bytes else { return 0..<0 }
        return appLayer.unsafelyUnwrapped.stream(slot: chunk.slot, flowID: chunk.flowID, serverPort: serverPort,
                               toServer: chunk.direction == .toServer, offset: chunk.offset,
                               bytes: UnsafeRawBufferPointer(start: bytes, count: chunk.length))
    }

    /// Feeds a UDP datagram to the application-layer stage and publishes what it completed
    /// (only called when there is a stage).
    @inline(never)
    private func datagram(slot: Int32, flowID: UInt64, fromClient: Bool, packet: CapturedPacket,
                          headers: UnsafeMutablePointer<PacketHeaders>) {
        let appLayer = self.appLayer.unsafelyUnwrapped
        let added = appLayer.datagram(slot: slot, flowID: flowID, sourcePort: headers.pointee.sourcePort,
                                      destinationPort: headers.pointee.destinationPort, toServer: fromClient,
                                      payload: packetPayload(packet, headers))
        appEvents(added, appLayer, timestamp: packet.timestamp, packet: packet.data, headers: headers)
    }

    /// An end that has closed (or is closing on this ACK): with both ends so, the connection
    /// carries no more stream data.
    @inline(__always)
    static func done(_ state: TCPState) -> Bool { state == .closed || state == .timeWait || state == .lastAck }

    @inline(__always)
    private func packetPayload(_ packet: CapturedPacket, _ headers: UnsafeMutablePointer<PacketHeaders>) -> UnsafeRawBufferPointer {
        let start = headers.pointee.payloadOffset
        return UnsafeRawBufferPointer(rebasing: packet.data[start..<(start + headers.pointee.payloadLength)])
    }

    /// `APP/…` events for the stage's records `added` (when some NF subscribes to them).
    @inline(__always)
    private func appEvents(_ added: Range<Int>, _ appLayer: AppLayerStage, timestamp: UInt64, packet: UnsafeRawBufferPointer,
                           headers: UnsafeMutablePointer<PacketHeaders>?) {
        guard publishesApp, !added.isEmpty else { return }
        for index in added {
            let record = appLayer.records[index]
            let name = record.transaction.buffers.protocolName
            let toServer = record.transaction.toServer
            let type: EventTypeID
            switch name {
            case .http: type = toServer ? .appHTTPRequest : .appHTTPResponse
            case .tls: type = toServer ? .appTLSClientHello : .appTLSServerHello
            case .dns: type = toServer ? .appDNSQuery : .appDNSAnswer
            case .ssh: type = .appSSHBanner
            default: type = .app
            }
            guard wants(type) else { continue }
            let cause: FlowSide = toServer ? .client : .server
            append(Event(type: type, side: cause.peer, cause: cause, slot: record.slot, flowID: record.flowID, timestamp: timestamp,
                         packet: packet, headers: headers.map { UnsafePointer($0) },
                         detail: EventDetail(appProtocol: name, index: Int32(index))))
        }
    }

    /// Builds the events of the end of input: every flow's flushed data, then its end.
    public func collectFinish(_ dataPath: DataPath, timestamp: UInt64) {
        reset()
        endedFlows(dataPath, timestamp: timestamp, current: 0)
    }

    @inline(__always)
    private func endedFlows(_ dataPath: DataPath, timestamp: UInt64, current: UInt64) {
        guard !dataPath.endedFlows.isEmpty else { return }
        if wants(.dataReady) || feedsAppLayer {
            // The slot may already hold a new flow: take the ended flow's own final state.
            // Many flows end at once at the end of input: looked up by flow ID, not searched.
            let ended = dataPath.endedFlows
            let index = ended.count > 8 ? Dictionary(ended.enumerated().map { ($0.element.flowID, $0.offset) },
                                                     uniquingKeysWith: { first, _ in first }) : nil
            for chunk in dataPath.chunks where chunk.flowID != current {
                let position = index.map { $0[chunk.flowID] } ?? ended.firstIndex { $0.flowID == chunk.flowID }
                let state = position.flatMap { ended[$0].tcp } ?? TCPMonitor.FlowState()
                var added = 0..<0
                if feedsAppLayer, let position { added = stream(chunk, serverPort: ended[position].key.serverPort) }
                if wants(.dataReady) {
                    append(dataEvent(chunk, state: state, dataPath: nil, timestamp: timestamp,
                                     packet: UnsafeRawBufferPointer(start: nil, count: 0), headers: nil, records: added))
                }
                if !added.isEmpty {
                    appEvents(added, appLayer.unsafelyUnwrapped, timestamp: timestamp,
                              packet: UnsafeRawBufferPointer(start: nil, count: 0), headers: nil)
                }
            }
        }
        for ended in dataPath.endedFlows {
            if feedsAppLayer {
                let appLayer = self.appLayer.unsafelyUnwrapped
                appEvents(appLayer.finish(slot: ended.slot, flowID: ended.flowID, flowEnded: true), appLayer, timestamp: timestamp,
                          packet: UnsafeRawBufferPointer(start: nil, count: 0), headers: nil)
            }
            var snapshot = StackSnapshot()
            if let tcp = ended.tcp {
                snapshot.clientState = tcp.client.state
                snapshot.serverState = tcp.server.state
            }
            append(Event(type: .flowDestroyed, side: .client, cause: .client, slot: ended.slot, flowID: ended.flowID,
                         timestamp: timestamp, snapshot: snapshot))
        }
    }

    @inline(__always)
    private func dataEvent(_ chunk: StreamChunk, state: TCPMonitor.FlowState, dataPath: DataPath?, timestamp: UInt64,
                           packet: UnsafeRawBufferPointer, headers: UnsafeMutablePointer<PacketHeaders>?,
                           records: Range<Int>) -> Event {
        let cause: FlowSide = chunk.direction == .toServer ? .client : .server
        var snapshot = StackSnapshot()
        snapshot.clientState = state.client.state
        snapshot.serverState = state.server.state
        snapshot.established = state.flags.established
        if let dataPath, dataPath.reassembles {
            (snapshot.toServerOffset, snapshot.toClientOffset) = dataPath.streamOffsets(chunk.slot)
        } else if chunk.direction == .toServer {
            snapshot.toServerOffset = chunk.offset + UInt64(chunk.length)
        } else {
            snapshot.toClientOffset = chunk.offset + UInt64(chunk.length)
        }
        return Event(type: .dataReady, side: cause.peer, cause: cause, slot: chunk.slot, flowID: chunk.flowID,
                     timestamp: timestamp, snapshot: snapshot, packet: packet, headers: headers.map { UnsafePointer($0) },
                     data: chunk.bytes, dataOffset: chunk.offset, dataLength: chunk.length,
                     detail: EventDetail(index: Int32(records.lowerBound), value: UInt64(records.count)))
    }

    @inline(__always)
    private func snapshot(_ dataPath: DataPath, slot: Int32, headers: UnsafeMutablePointer<PacketHeaders>) -> StackSnapshot {
        let state = dataPath.tcpState(slot)
        var snapshot = StackSnapshot()
        snapshot.clientState = state.client.state
        snapshot.serverState = state.server.state
        snapshot.established = state.flags.established
        snapshot.sequence = headers.pointee.sequence
        snapshot.acknowledgment = headers.pointee.acknowledgment
        snapshot.flags = headers.pointee.tcpFlags
        snapshot.payloadLength = UInt16(truncatingIfNeeded: headers.pointee.payloadLength)
        if state.flags.reassemble {
            (snapshot.toServerOffset, snapshot.toClientOffset) = dataPath.streamOffsets(slot)
        }
        return snapshot
    }
}

import MBoxDataPath
import MBoxEvents
import MBoxNFRunner
import MBoxTCPMonitor
import MBoxTrafficGen
import Testing

@Suite("Event types and subscriptions")
struct EventTests {
    @Test("the hierarchy: a subtype is its ancestors; custom types go under EVENT/")
    func hierarchy() throws {
        var types = EventTypes()
        #expect(types.isA(.packetTCP, .packet) && !types.isA(.packet, .packetTCP))
        #expect(types.isA(.flowTCP, .flow) && types.isA(.dpiDetect, .custom))
        #expect(!types.isA(.dataReady, .packet))
        let deep = try types.declare("EVENT/HTTP/REQUEST")
        let parent = try #require(types.id("EVENT/HTTP"))
        #expect(types.isA(deep, .custom) && types.isA(deep, parent))
        let again = try types.declare("EVENT/HTTP/REQUEST")
        #expect(again == deep)
        #expect(throws: EventTypes.RegistrationError.notCustom("MY_EVENT")) { try types.declare("MY_EVENT") }
        #expect(throws: EventTypes.RegistrationError.badName("EVENT/bad name")) { try types.declare("EVENT/bad name") }
        for index in 0..<(EventTypes.maximumCount - types.count) { _ = try types.declare("EVENT/T\(index)") }
        #expect(throws: EventTypes.RegistrationError.tooMany("EVENT/ONE_MORE")) { try types.declare("EVENT/ONE_MORE") }
    }

    @Test("a subscription to a type receives its subtypes, filtered by stack side and cause")
    func tableDelivery() throws {
        let types = EventTypes()
        let subscriptions = [
            Subscription(nf: 0, type: .packet),
            Subscription(nf: 1, type: .packetTCP, filter: .matching(side: .server, cause: .client)),
            Subscription(nf: 1, type: .dpiDetect, condition: .appProtocol(.http), initiallyActive: false),
        ]
        let table = try SubscriptionTable(subscriptions, types: types, nfCount: 2)
        let serverByClient = StackFilter.bit(side: .server, cause: .client)
        let clientByClient = StackFilter.bit(side: .client, cause: .client)
        #expect(table.wanting(.packetTCP, serverByClient) == 0b011)
        #expect(table.wanting(.packetTCP, clientByClient) == 0b001)
        #expect(table.wanting(.packet, serverByClient) == 0b001)
        #expect(table.wanting(.dpiDetect, clientByClient) == 0b100)
        #expect(table.initial == 0b011 && table.conditional == 0b100)
        #expect(table.byNF == [0b001, 0b110])
    }

    /// The seed's configurations 1–3 differ only in filters; each halves the events.
    @Test("seed configurations 1–3 deliver 2, 1 and ½ events per packet per NF", arguments: [1, 2, 3])
    func seedFilters(configuration: Int) throws {
        var profile = TrafficProfile()
        profile.flows = 60
        let capture = try MemoryCapture(profile)
        let chain = try compileChain(String(contentsOfFile: packageRoot + "/chains/seed/config\(configuration).yaml", encoding: .utf8),
                                     rules: webRules)
        let pipeline = try chain.makePipeline(configuration: DataPathConfiguration())
        replay(capture, through: pipeline)
        let tcpPackets = pipeline.dataPath.counters.tcp
        var clientPackets: UInt64 = 0
        let probe = DataPath()
        for packet in capture.packets {
            if case let .flow(_, fromClient) = probe.process(packet), probe.headers.pointee.isTCP, fromClient { clientPackets += 1 }
        }
        let expected: UInt64 = configuration == 1 ? 2 * tcpPackets : configuration == 2 ? 2 * clientPackets : clientPackets
        #expect(pipeline.chain.counters.perNF[1] == expected, "Signature_Match events")
        #expect(pipeline.source.produced[Int(EventTypeID.packetTCP.rawValue)] == 2 * tcpPackets)
        #expect(clientPackets > 0 && clientPackets < tcpPackets)
    }

    @Test("snapshots show each stack as it was when the event was produced")
    func snapshots() throws {
        var profile = TrafficProfile()
        profile.flows = 1
        profile.applications = [.http]
        let capture = try MemoryCapture(profile)
        let types = EventTypes()
        let recorder = RecorderNF()
        let dataPath = DataPath()
        let runner = try ChainRunner(types: types, subscriptions: [Subscription(nf: 0, type: .packetTCP),
                                                                   Subscription(nf: 0, type: .dataReady)],
                                     members: [ChainMember(name: "recorder", action: .readOnly, function: recorder)],
                                     dataPath: dataPath)
        let source = EventSource(types: types, wantedTypes: runner.table.wantedTypes(types))
        replay(capture, through: Pipeline(dataPath: dataPath, source: source, chain: runner))
        let syn = recorder.seen.prefix(2)
        #expect(syn.first?.side == .client && syn.first?.cause == .client)
        #expect(syn.first?.snapshot.clientState == .synSent && syn.first?.snapshot.serverState == .closed,
                "the client's stack updated first; the server has not seen the SYN")
        #expect(syn.last?.side == .server && syn.last?.snapshot.serverState == .synReceived)
        let data = recorder.seen.filter { $0.type == .dataReady }
        #expect(!data.isEmpty)
        for event in data {
            let reached = event.cause == .client ? event.snapshot.toServerOffset : event.snapshot.toClientOffset
            #expect(reached >= event.dataOffset + UInt64(event.dataLength), "the stream had reached at least this chunk")
            #expect(event.snapshot.established)
        }
        #expect(recorder.started.count == 1 && recorder.ended.count == 1)
    }

    @Test("decoder and stream anomalies reach the NFs that subscribe to them, once per packet, with what was wrong")
    func anomalyEvents() throws {
        let client = Endpoint(address: [10, 9, 0, 1], port: 41_000, mac: [2, 0, 0, 0, 0, 1])
        let server = Endpoint(address: [10, 9, 0, 2], port: 80, mac: [2, 0, 0, 0, 0, 2])
        let b = FrameBuilder()
        func tcp(_ from: Endpoint, _ to: Endpoint, _ flags: UInt8, _ sequence: UInt32, _ ack: UInt32, _ text: String = "") -> [UInt8] {
            b.tcp(from: from, to: to, .init(flags: flags, sequence: sequence, acknowledgment: ack, payload: Array(text.utf8)))
        }
        var decoy = tcp(client, server, 0x18, 11, 51, "GET /innocent")
        decoy[14 + 20 + 16] ^= 0xFF
        let capture = try MemoryCapture(frames: [
            tcp(client, server, 0x02, 10, 0), tcp(server, client, 0x12, 50, 11), tcp(client, server, 0x10, 11, 51),
            decoy,
            tcp(server, client, 0x04, 60, 0),  // in the window, not at the next sequence: ignored (RFC 5961)
            tcp(client, server, 0x18, 11, 51, "GET /attack!!"), tcp(server, client, 0x10, 51, 24),
        ])
        let types = EventTypes()
        let recorder = RecorderNF()
        let dataPath = DataPath()
        let runner = try ChainRunner(types: types, subscriptions: [Subscription(nf: 0, type: .decoderAnomaly),
                                                                   Subscription(nf: 0, type: .streamAnomaly)],
                                     members: [ChainMember(name: "recorder", action: .readOnly, function: recorder)],
                                     dataPath: dataPath)
        let source = EventSource(types: types, wantedTypes: runner.table.wantedTypes(types))
        replay(capture, through: Pipeline(dataPath: dataPath, source: source, chain: runner))
        #expect(recorder.seen.map(\.type) == [.decoderAnomaly, .streamAnomaly])
        #expect(recorder.seen.map(\.cause) == [.client, .server])
        #expect(source.produced[Int(EventTypeID.decoderAnomaly.rawValue)] == 1 && source.produced[Int(EventTypeID.streamAnomaly.rawValue)] == 1)
        #expect(dataPath.counters.badChecksums == 1 && dataPath.monitor.counters.invalidResets == 1)
    }
}

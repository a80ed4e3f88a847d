import MBoxFlow
import MBoxPacket
import Testing

private func headers(_ a: IPAddress, _ ap: UInt16, _ b: IPAddress, _ bp: UInt16, proto: UInt8 = 6) -> PacketHeaders {
    var h = PacketHeaders()
    h.source = a
    h.sourcePort = ap
    h.destination = b
    h.destinationPort = bp
    h.ipProtocol = proto
    return h
}

private func hash(_ h: PacketHeaders) -> UInt32 {
    SymmetricFlowHash.hash(source: h.source, sourcePort: h.sourcePort, destination: h.destination,
                           destinationPort: h.destinationPort, ipProtocol: h.ipProtocol)
}

private let a = IPAddress(10, 0, 0, 1), b = IPAddress(192, 0, 2, 1)

@Suite("Flow table")
struct FlowTableTests {
    @Test("the hash is the same both ways and differs by protocol")
    func symmetricHash() {
        let forward = headers(a, 1234, b, 80), reverse = headers(b, 80, a, 1234)
        #expect(hash(forward) == hash(reverse))
        #expect(hash(forward) != hash(headers(a, 1234, b, 80, proto: 17)))
        #expect(hash(forward) != hash(headers(a, 1235, b, 80)))
    }

    @Test("both directions find one flow oriented to its client")
    func bidirectional() {
        let table = FlowTable(configuration: .init(capacity: 8))
        let syn = headers(a, 1234, b, 80)
        #expect(table.lookup(syn, hash: hash(syn), now: 1) == nil)
        let inserted = table.insert(syn, hash: hash(syn), sourceIsClient: true, now: 1)
        let reply = headers(b, 80, a, 1234)
        let found = table.lookup(reply, hash: hash(reply), now: 2)
        #expect(found?.slot == inserted.slot && found?.fromClient == false)
        #expect(table.lookup(syn, hash: hash(syn), now: 3)?.fromClient == true)
        #expect(table.key(inserted.slot) == FlowKey(client: a, clientPort: 1234, server: b, serverPort: 80, ipProtocol: 6))
        #expect(table.lastSeen(inserted.slot) == 3)
        #expect(table.count == 1)
    }

    @Test("a flow first seen from its server is oriented to the other end")
    func serverFirst() {
        let table = FlowTable(configuration: .init(capacity: 8))
        let synAck = headers(b, 80, a, 1234)
        let match = table.insert(synAck, hash: hash(synAck), sourceIsClient: false, now: 1)
        #expect(match.fromClient == false)
        #expect(table.key(match.slot).client == a && table.key(match.slot).clientPort == 1234)
    }

    @Test("IPv6 flows are keyed apart from IPv4 ones")
    func ipv6() throws {
        let table = FlowTable(configuration: .init(capacity: 8))
        let v6a = try #require(IPAddress("fd00::1")), v6b = try #require(IPAddress("2001:db8::1"))
        let h6 = headers(v6a, 1, v6b, 2), h4 = headers(a, 1, b, 2)
        let s6 = table.insert(h6, hash: hash(h6), sourceIsClient: true, now: 0).slot
        let s4 = table.insert(h4, hash: hash(h4), sourceIsClient: true, now: 0).slot
        #expect(s6 != s4)
        #expect(table.lookup(headers(v6b, 2, v6a, 1), hash: hash(h6), now: 0)?.slot == s6)
    }

    @Test("idle flows expire by the packets' clock, least recent first")
    func idleExpiry() {
        let table = FlowTable(configuration: .init(capacity: 8, idleTimeoutSeconds: 10))
        let first = headers(a, 1, b, 80), second = headers(a, 2, b, 80)
        let s1 = table.insert(first, hash: hash(first), sourceIsClient: true, now: 0).slot
        let s2 = table.insert(second, hash: hash(second), sourceIsClient: true, now: 5_000_000_000).slot
        #expect(table.expiredSlot(now: 9_000_000_000) == nil)
        _ = table.lookup(first, hash: hash(first), now: 9_000_000_000)  // first becomes the newer
        #expect(table.expiredSlot(now: 15_500_000_000) == s2)
        table.remove(s2, reason: .expired)
        #expect(table.expiredSlot(now: 15_500_000_000) == nil)
        #expect(table.expiredSlot(now: 19_500_000_000) == s1)
        #expect(table.counters.expired == 1)
    }

    @Test("capacity is a hard bound; the oldest flow is the one to evict")
    func capacity() {
        let table = FlowTable(configuration: .init(capacity: 4))
        var slots: [Int32] = []
        for port in 0..<4 {
            let h = headers(a, UInt16(port), b, 80)
            slots.append(table.insert(h, hash: hash(h), sourceIsClient: true, now: UInt64(port)).slot)
        }
        #expect(table.isFull && Set(slots).count == 4)
        #expect(table.oldestSlot == slots[0])
        table.remove(slots[0], reason: .evicted)
        #expect(!table.isFull && table.counters.evicted == 1)
        let h = headers(a, 99, b, 80)
        #expect(table.insert(h, hash: hash(h), sourceIsClient: true, now: 10).slot == slots[0])
        #expect(table.flowID(slots[0]) == 5)
    }

    @Test("random inserts, lookups and removals agree with a dictionary")
    func modelCheck() {
        let capacity = 512
        let table = FlowTable(configuration: .init(capacity: capacity))
        var model: [UInt16: Int32] = [:]
        var state: UInt64 = 7
        func random() -> UInt64 {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return state >> 33
        }
        for step in 0..<100_000 {
            // Few distinct ports so collisions, removals and reinsertions interleave.
            let port = UInt16(random() % 900)
            let h = headers(a, port, b, 80)
            let found = table.lookup(h, hash: hash(h), now: UInt64(step))
            #expect(found?.slot == model[port])
            if found == nil {
                if table.isFull, let oldest = table.oldestSlot {
                    let key = table.key(oldest)
                    table.remove(oldest, reason: .evicted)
                    model[key.clientPort] = nil
                }
                model[port] = table.insert(h, hash: hash(h), sourceIsClient: true, now: UInt64(step)).slot
            } else if random() % 3 == 0 {
                table.remove(found!.slot, reason: .closed)
                model[port] = nil
            }
            if step % 10_000 == 0 { #expect(table.count == model.count) }
        }
        #expect(table.count == model.count)
        #expect(table.bytesPerFlow <= 112)
    }
}

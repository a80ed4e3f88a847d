/// One generated flow: its packets in the order they appear on the wire.
struct Conversation {
    var packets: [(fromClient: Bool, frame: [UInt8])] = []
    var next = 0
}

/// Turns application exchanges into a TCP conversation: handshake, data bursts each
/// followed by the receiver's cumulative ACK, then FIN/FIN or RST.
struct ConversationBuilder {
    let profile: TrafficProfile
    let builder: FrameBuilder
    let client: Endpoint
    let server: Endpoint
    var clientSequence: UInt32
    var serverSequence: UInt32
    var packets: [(fromClient: Bool, frame: [UInt8])] = []
    var lostBytes = 0

    init(profile: TrafficProfile, builder: FrameBuilder, client: Endpoint, server: Endpoint, rng: inout SplitMix64) {
        self.profile = profile
        self.builder = builder
        self.client = client
        self.server = server
        if profile.sequenceWrap {
            clientSequence = UInt32.max - UInt32(rng.next() % 3000)
            serverSequence = UInt32.max - UInt32(rng.next() % 3000)
        } else {
            clientSequence = UInt32(truncatingIfNeeded: rng.next())
            serverSequence = UInt32(truncatingIfNeeded: rng.next())
        }
    }

    private mutating func send(fromClient: Bool, flags: UInt8, options: [UInt8] = [], payload: [UInt8] = [],
                               sequence: UInt32? = nil) {
        let segment = FrameBuilder.TCPSegment(
            flags: flags, sequence: sequence ?? (fromClient ? clientSequence : serverSequence),
            acknowledgment: flags & 0x10 != 0 ? (fromClient ? serverSequence : clientSequence) : 0,
            options: options, payload: payload)
        let frame = fromClient ? builder.tcp(from: client, to: server, segment) : builder.tcp(from: server, to: client, segment)
        packets.append((fromClient, frame))
    }

    mutating func handshake(rng: inout SplitMix64) {
        send(fromClient: true, flags: 0x02, options: FrameBuilder.synOptions(timestamp: UInt32(truncatingIfNeeded: rng.next())))
        clientSequence &+= 1
        send(fromClient: false, flags: 0x12, options: FrameBuilder.synOptions(timestamp: UInt32(truncatingIfNeeded: rng.next())))
        serverSequence &+= 1
        send(fromClient: true, flags: 0x10)
    }

    /// A burst of data from one side, cut into segments (with forced cuts at `cuts`),
    /// mutated as the profile says, then the peer's cumulative ACK.
    mutating func burst(fromClient: Bool, _ data: [UInt8], cuts: [Int] = [], rng: inout SplitMix64) {
        guard !data.isEmpty else { return }
        var segments: [(offset: Int, bytes: ArraySlice<UInt8>)] = []
        var offset = 0
        let forced = Set(cuts)
        while offset < data.count {
            let size = profile.tinySegments ? Int(1 + rng.next() % 16) : profile.maximumSegmentSize
            var end = min(data.count, offset + size)
            if let cut = forced.filter({ $0 > offset && $0 < end }).min() { end = cut }
            segments.append((offset, data[offset..<end]))
            offset = end
        }
        var wire: [(offset: Int, bytes: ArraySlice<UInt8>)] = []
        for (index, segment) in segments.enumerated() {
            if rng.chance(profile.lostSegments), index + 1 < segments.count {
                lostBytes += segment.bytes.count
                continue
            }
            wire.append(segment)
            if rng.chance(profile.retransmissions) { wire.append(segment) }
            if index + 1 < segments.count, rng.chance(profile.overlappingRetransmissions) {
                let next = segments[index + 1]
                let start = segment.offset + segment.bytes.count / 2
                wire.append((start, data[start..<(next.offset + next.bytes.count)]))
            }
        }
        var index = 0
        while index + 1 < wire.count {
            if rng.chance(profile.outOfOrder) {
                wire.swapAt(index, index + 1)
                index += 2
            } else {
                index += 1
            }
        }
        let base = fromClient ? clientSequence : serverSequence
        for segment in wire {
            send(fromClient: fromClient, flags: 0x18, payload: Array(segment.bytes),
                 sequence: base &+ UInt32(segment.offset))
        }
        if fromClient { clientSequence &+= UInt32(data.count) } else { serverSequence &+= UInt32(data.count) }
        send(fromClient: !fromClient, flags: 0x10)
    }

    mutating func close(rng: inout SplitMix64) {
        if rng.chance(profile.resetShare) {
            send(fromClient: true, flags: 0x14)
            return
        }
        let first = !rng.chance(profile.serverClosesFirstShare)
        send(fromClient: first, flags: 0x11)
        if first { clientSequence &+= 1 } else { serverSequence &+= 1 }
        send(fromClient: !first, flags: 0x11)
        if first { serverSequence &+= 1 } else { clientSequence &+= 1 }
        send(fromClient: first, flags: 0x10)
    }
}

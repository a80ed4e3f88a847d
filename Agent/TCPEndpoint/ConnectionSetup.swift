import MBoxPacket
import MBoxTransmit

/// What a connection starts from once its handshake is done (by whoever did it: the
/// splicer's SYN cookies toward a client, its SYN toward a backend): the two ends, the
/// sequence numbers either way and what the SYNs negotiated.
public struct ConnectionSetup: Sendable {
    public var local: IPAddress
    public var localPort: UInt16
    public var remote: IPAddress
    public var remotePort: UInt16
    /// Ethernet framing of what we send, and the port it leaves by.
    public var link: LinkFraming
    public var egress: Egress
    /// The sequence number of our first data byte (ISN + 1) and of theirs.
    public var sendNext: UInt32
    public var receiveNext: UInt32
    /// The peer's MSS (what our segments' payloads may reach, options included).
    public var peerMSS: UInt16
    /// The peer's last window, in bytes.
    public var peerWindow: UInt32
    /// Window scale shifts (RFC 7323): of windows the peer sends, and of ours. Both 0
    /// when scaling was not negotiated.
    public var peerScale: UInt8 = 0
    public var ourScale: UInt8 = 0
    public var sackPermitted = false
    /// Timestamps negotiated: their last TSval, and what our clock adds to milliseconds.
    public var timestamps = false
    public var peerTimestamp: UInt32 = 0
    public var timestampOffset: UInt32 = 0
    public var sendCapacity = 256 * 1024
    public var receiveCapacity = 256 * 1024

    public init(local: IPAddress, localPort: UInt16, remote: IPAddress, remotePort: UInt16, link: LinkFraming, egress: Egress,
                sendNext: UInt32, receiveNext: UInt32, peerMSS: UInt16, peerWindow: UInt32) {
        self.local = local
        self.localPort = localPort
        self.remote = remote
        self.remotePort = remotePort
        self.link = link
        self.egress = egress
        self.sendNext = sendNext
        self.receiveNext = receiveNext
        self.peerMSS = peerMSS
        self.peerWindow = peerWindow
    }
}

/// What one connection counted.
public struct ConnectionCounters: Sendable {
    public var segmentsSent: UInt64 = 0
    public var bytesSent: UInt64 = 0
    public var segmentsReceived: UInt64 = 0
    public var bytesReceived: UInt64 = 0
    /// Segments sent again: by the timer, by fast retransmit / SACK recovery.
    public var timeoutRetransmits: UInt64 = 0
    public var fastRetransmits: UInt64 = 0
    /// Recoveries entered (three duplicate ACKs or SACK).
    public var recoveries: UInt64 = 0
    /// Tail loss probes sent.
    public var probes: UInt64 = 0
    /// Recoveries undone: the ACK showed the original segment had arrived (reordering).
    public var spuriousRecoveries: UInt64 = 0
    /// Resent segments found lost again (and resent once more) during a recovery.
    public var lostRetransmits: UInt64 = 0
    /// Segments received beyond a gap, and those dropped for want of room or of a range slot.
    public var outOfOrder: UInt64 = 0
    public var dropped: UInt64 = 0
    public init() {}

    public mutating func add(_ other: ConnectionCounters) {
        segmentsSent &+= other.segmentsSent
        bytesSent &+= other.bytesSent
        segmentsReceived &+= other.segmentsReceived
        bytesReceived &+= other.bytesReceived
        timeoutRetransmits &+= other.timeoutRetransmits
        fastRetransmits &+= other.fastRetransmits
        recoveries &+= other.recoveries
        probes &+= other.probes
        spuriousRecoveries &+= other.spuriousRecoveries
        lostRetransmits &+= other.lostRetransmits
        outOfOrder &+= other.outOfOrder
        dropped &+= other.dropped
    }
}

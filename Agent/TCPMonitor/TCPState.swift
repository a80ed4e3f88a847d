/// RFC 793 connection states, tracked separately for each endpoint of a flow.
public enum TCPState: UInt8, Sendable, CustomStringConvertible {
    case closed, listen, synSent, synReceived, established
    case finWait1, finWait2, closing, timeWait, closeWait, lastAck

    public var description: String {
        switch self {
        case .closed: return "CLOSED"
        case .listen: return "LISTEN"
        case .synSent: return "SYN_SENT"
        case .synReceived: return "SYN_RCVD"
        case .established: return "ESTABLISHED"
        case .finWait1: return "FIN_WAIT_1"
        case .finWait2: return "FIN_WAIT_2"
        case .closing: return "CLOSING"
        case .timeWait: return "TIME_WAIT"
        case .closeWait: return "CLOSE_WAIT"
        case .lastAck: return "LAST_ACK"
        }
    }

    /// The endpoint will send no more data.
    @inlinable var isFinished: Bool { self == .closed || self == .timeWait }
}

/// One end of a flow. `client` is the endpoint that opened it (sent the first SYN, or
/// the first packet seen when the flow was picked up mid-stream).
public enum FlowSide: UInt8, Sendable {
    case client, server

    @inlinable public var peer: FlowSide { self == .client ? .server : .client }
}

/// One direction of a flow's byte stream.
public enum StreamDirection: UInt8, Sendable {
    /// Bytes the client sent.
    case toServer
    /// Bytes the server sent.
    case toClient

    @inlinable public init(sender: FlowSide) { self = sender == .client ? .toServer : .toClient }
}

/// Serial-number arithmetic (RFC 1982) for 32-bit TCP sequence numbers, so comparisons
/// stay right across wrap-around.
public enum SequenceNumber {
    /// `a - b` as a signed distance.
    @inlinable @inline(__always)
    public static func distance(_ a: UInt32, _ b: UInt32) -> Int32 { Int32(bitPattern: a &- b) }

    @inlinable @inline(__always)
    public static func isAfter(_ a: UInt32, _ b: UInt32) -> Bool { distance(a, b) > 0 }
}

/// One endpoint's stack as the monitor reconstructs it from the packets it sees.
public struct TCPEndpointState: Sendable {
    public var state: TCPState = .closed
    /// Initial sequence number (from its SYN; inferred on mid-stream pickup).
    public var initialSequence: UInt32 = 0
    /// One past the highest sequence number it has sent (SND.NXT, counting SYN and FIN).
    public var nextSequence: UInt32 = 0
    /// The highest acknowledgment it has sent (its RCV.NXT as last advertised).
    public var acknowledged: UInt32 = 0
    /// Its last advertised receive window, scaled.
    public var window: UInt32 = 0
    /// Sequence number of its FIN, when `sentFIN`.
    public var finSequence: UInt32 = 0
    public var mss: UInt16 = 0
    public var windowScale: UInt8 = 0
    public var flags: Flags = []

    public struct Flags: OptionSet, Sendable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let sentSYN = Flags(rawValue: 1 << 0)
        public static let sentFIN = Flags(rawValue: 1 << 1)
        public static let sentACK = Flags(rawValue: 1 << 2)
        public static let offeredWindowScale = Flags(rawValue: 1 << 3)
        public static let sackPermitted = Flags(rawValue: 1 << 4)
        public static let timestamps = Flags(rawValue: 1 << 5)
        /// First seen mid-stream: no handshake, so ISN and window scale are guesses.
        public static let pickedUpMidStream = Flags(rawValue: 1 << 6)
    }

    public init() {}
}

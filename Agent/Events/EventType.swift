/// An event type, by index into its `EventTypes` registry.
public struct EventTypeID: Hashable, Sendable, Comparable {
    public var rawValue: UInt8
    @inlinable public init(_ rawValue: UInt8) { self.rawValue = rawValue }
    public static func < (a: EventTypeID, b: EventTypeID) -> Bool { a.rawValue < b.rawValue }

    /// Every packet.
    public static let packet = EventTypeID(0)
    /// A TCP packet, after the μStack updated one endpoint's state (two per packet).
    public static let packetTCP = EventTypeID(1)
    /// A new flow.
    public static let flow = EventTypeID(2)
    /// A new TCP flow.
    public static let flowTCP = EventTypeID(3)
    /// New in-order bytes of a reassembled stream (or a gap). `detail.index` and
    /// `detail.value`: the first and the number of application-layer records they completed.
    public static let dataReady = EventTypeID(4)
    /// A splicer asks for a backend.
    public static let flowRequest = EventTypeID(5)
    /// A flow ended.
    public static let flowDestroyed = EventTypeID(6)
    /// Root of the types NFs declare.
    public static let custom = EventTypeID(7)
    public static let dpiDetect = EventTypeID(8)
    public static let idsAlert = EventTypeID(9)
    public static let longFlow = EventTypeID(10)
    /// Something wrong below TCP in a flow's packet (`detail.value`: `PacketAnomalies` bits).
    public static let decoderAnomaly = EventTypeID(11)
    /// Something wrong in a flow's TCP conversation (`detail.value`: `TCPAnomalies` bits).
    public static let streamAnomaly = EventTypeID(12)
    /// Bytes on their way through the Split Proxy, which NFs may rewrite
    /// (`detail.index`: the chunk; `detail.value`: 1 when the sender finished after them).
    public static let byteStream = EventTypeID(13)
    /// Application-layer transactions (the application-layer stage's; `detail.index`: the
    /// stage's record, `detail.appProtocol`: its protocol). Subscribing to `APP` delivers all.
    public static let app = EventTypeID(14)
    public static let appHTTP = EventTypeID(15)
    /// An HTTP request complete (its head, and its body up to the limit).
    public static let appHTTPRequest = EventTypeID(16)
    /// An HTTP response complete, with its request's buffers.
    public static let appHTTPResponse = EventTypeID(17)
    public static let appTLS = EventTypeID(18)
    /// A TLS ClientHello (SNI, JA3).
    public static let appTLSClientHello = EventTypeID(19)
    /// The server's side of a TLS handshake (ServerHello, JA3S, its certificate when read).
    public static let appTLSServerHello = EventTypeID(20)
    public static let appDNS = EventTypeID(21)
    public static let appDNSQuery = EventTypeID(22)
    public static let appDNSAnswer = EventTypeID(23)
    public static let appSSH = EventTypeID(24)
    /// An SSH banner (either end's: `cause` says whose).
    public static let appSSHBanner = EventTypeID(25)
}

/// The event type hierarchy. A name's parent is its prefix before the last `/`
/// (`PKT/TCP` ⊂ `PKT`); NFs' own types live under `EVENT/`. Subscribing to a type also
/// delivers its subtypes. At most 64 types, so ancestry is one bitmask test.
public struct EventTypes: Sendable {
    public static let builtIn = ["PKT", "PKT/TCP", "FLOW", "FLOW/TCP", "DATA_RDY", "FLOW_REQ", "FLOW_DEST",
                                 "EVENT", "EVENT/DPI_DETECT", "EVENT/IDS_ALERT", "EVENT/LONG_FLOW",
                                 "EVENT/DECODER_ANOMALY", "EVENT/STREAM_ANOMALY", "BYTESTREAM",
                                 "APP", "APP/HTTP", "APP/HTTP/REQUEST", "APP/HTTP/RESPONSE", "APP/TLS", "APP/TLS/CLIENT_HELLO",
                                 "APP/TLS/SERVER_HELLO", "APP/DNS", "APP/DNS/QUERY", "APP/DNS/ANSWER", "APP/SSH", "APP/SSH/BANNER"]
    public static let maximumCount = 64

    public private(set) var names: [String] = []
    /// Bit `a` of `ancestors[t]` is set when `a` is `t` or one of its ancestors.
    public private(set) var ancestors: [UInt64] = []
    private var indices: [String: Int] = [:]

    public enum RegistrationError: Error, CustomStringConvertible, Equatable {
        case badName(String)
        case notCustom(String)
        case tooMany(String)

        public var description: String {
            switch self {
            case let .badName(name): return "'\(name)' is not an event type name (letters, digits, '_' and '/' separators)"
            case let .notCustom(name): return "'\(name)' is not a built-in event type; types NFs declare go under EVENT/"
            case let .tooMany(name): return "cannot add '\(name)': at most \(EventTypes.maximumCount) event types"
            }
        }
    }

    public init() {
        for name in Self.builtIn { _ = try! add(name) }
    }

    public var count: Int { names.count }

    public func id(_ name: String) -> EventTypeID? { indices[name].map { EventTypeID(UInt8($0)) } }

    public func name(_ type: EventTypeID) -> String { names[Int(type.rawValue)] }

    /// Whether `type` is `ancestor` or below it.
    @inlinable @inline(__always)
    public func isA(_ type: EventTypeID, _ ancestor: EventTypeID) -> Bool {
        ancestors[Int(type.rawValue)] & (1 << UInt64(ancestor.rawValue)) != 0
    }

    /// The id of `name`, adding it (and missing ancestors) when it is a new custom type.
    public mutating func declare(_ name: String) throws -> EventTypeID {
        if let existing = id(name) { return existing }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" } }) else {
            throw RegistrationError.badName(name)
        }
        guard parts.first == "EVENT", parts.count > 1 else { throw RegistrationError.notCustom(name) }
        return try add(name)
    }

    private mutating func add(_ name: String) throws -> EventTypeID {
        if let existing = id(name) { return existing }
        var mask: UInt64 = 0
        if let cut = name.lastIndex(of: "/") {
            let parent = try add(String(name[..<cut]))
            mask = ancestors[Int(parent.rawValue)]
        }
        guard names.count < Self.maximumCount else { throw RegistrationError.tooMany(name) }
        let index = names.count
        names.append(name)
        ancestors.append(mask | 1 << UInt64(index))
        indices[name] = index
        return EventTypeID(UInt8(index))
    }
}

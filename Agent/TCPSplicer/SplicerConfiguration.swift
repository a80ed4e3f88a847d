import MBoxPacket
import MBoxTransmit

/// A service the TCP Splicer answers for: clients connect to `address`:`port` (a virtual
/// address no host owns; the agent answers ARP for it with `mac`).
public struct SplicedService: Sendable, Equatable {
    public var address: IPAddress
    public var port: UInt16
    public var mac: MACAddress
    /// The connection is split (handed to the Split Proxy once the backend answers)
    /// rather than spliced.
    public var split: Bool

    public init(address: IPAddress, port: UInt16, mac: MACAddress? = nil, split: Bool = false) {
        self.address = address
        self.port = port
        self.mac = mac ?? MACAddress(locallyAdministeredFor: address)
        self.split = split
    }
}

/// How the splicer is set up.
public struct SplicerConfiguration: Sendable, Equatable {
    public var services: [SplicedService]
    /// Connections that may wait between their first request bytes and the backend's
    /// handshake at once, each holding up to `requestLimit` bytes (the rest of a SYN flood
    /// or a slow backend costs nothing: no buffer, the client retransmits).
    public var holdBuffers = 4096
    /// The window the splicer's SYN-ACK offers, and so the most a client sends before the
    /// backend answers: it fits one replayed segment.
    public static let requestLimit = 1400
    /// SYNs sent to backends per request before it counts as refused.
    public var attemptsPerBackend = 3
    /// Backends asked per request (the NF may pick another after a refusal).
    public var backendsPerRequest = 3

    public init(services: [SplicedService]) { self.services = services }
}

/// What the splicer counted.
public struct SplicerCounters: Sendable {
    public var synCookiesSent: UInt64 = 0
    public var cookiesAccepted: UInt64 = 0
    /// ACKs to a service with no flow and no valid cookie (answered with a RST).
    public var cookiesRejected: UInt64 = 0
    public var requests: UInt64 = 0
    public var spliced: UInt64 = 0
    /// Requests no backend took (the client got a RST).
    public var refused: UInt64 = 0
    /// Backends that refused (RST) or did not answer a connection.
    public var backendFailures: UInt64 = 0
    /// Request bytes dropped for want of a hold buffer or out of order (the client resends).
    public var requestBytesDeferred: UInt64 = 0
    public var packetsRewritten: UInt64 = 0
    /// Connections handed to the Split Proxy.
    public var handedOff: UInt64 = 0
    public init() {}
}

/// A backend an NF picked for a request (`FLOW_REQ`).
public struct BackendChoice: Sendable, Equatable {
    public var slot: Int32
    public var flowID: UInt64
    public var address: IPAddress
    public var port: UInt16

    public init(slot: Int32, flowID: UInt64, address: IPAddress, port: UInt16) {
        self.slot = slot
        self.flowID = flowID
        self.address = address
        self.port = port
    }
}

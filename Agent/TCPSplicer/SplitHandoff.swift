import MBoxPacket
import MBoxTransmit

/// A connection the splicer set up for the Split Proxy: the client's handshake (answered by
/// SYN cookie) and the backend's (the splicer's SYN with the client's options) are done,
/// the client's first request bytes are held. Everything both ends settled is here.
public struct SplitHandoff {
    /// The connection's two flows: client → service, client → backend.
    public var clientLeg: Int32
    public var backendLeg: Int32
    public var service: SplicedService
    public var client: IPAddress
    public var clientPort: UInt16
    public var clientMAC = MACAddress.zero
    public var clientInterface: UInt32 = 0
    public var backend: IPAddress
    public var backendPort: UInt16
    public var backendMAC = MACAddress.zero
    public var backendInterface: UInt32 = 0

    /// Client side: our ISN (the cookie), the client's, and what its SYN offered.
    public var cookieISN: UInt32 = 0
    public var clientISN: UInt32 = 0
    public var clientMSS: UInt16 = 536
    /// Shifts: the client's windows, and ours toward it (0: no scaling).
    public var clientScale: UInt8 = 0
    public var ourScale: UInt8 = 0
    public var clientSACK = false
    public var clientTimestamps = false
    public var clientTimestamp: UInt32 = 0
    /// Our cookie's TSval, which the client echoed.
    public var ourTimestamp: UInt32 = 0
    public var clientWindow: UInt16 = 0

    /// Backend side (our SYN carried the client's ISN and options): its ISN and SYN-ACK.
    public var backendISN: UInt32 = 0
    public var backendMSS: UInt16 = 536
    /// Shifts: the backend's windows, and ours toward it.
    public var backendScale: UInt8 = 0
    public var backendSideScale: UInt8 = 0
    public var backendSACK = false
    public var backendTimestamps = false
    public var backendTimestamp: UInt32 = 0
    public var backendWindow: UInt16 = 0

    /// The request bytes held so far (valid until the next packet).
    public var request = UnsafeRawBufferPointer(start: nil, count: 0)

    public init(clientLeg: Int32, backendLeg: Int32, service: SplicedService, client: IPAddress, clientPort: UInt16,
                backend: IPAddress, backendPort: UInt16) {
        self.clientLeg = clientLeg
        self.backendLeg = backendLeg
        self.service = service
        self.client = client
        self.clientPort = clientPort
        self.backend = backend
        self.backendPort = backendPort
    }
}

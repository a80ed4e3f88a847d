import MBoxPacket
import MBoxTCPMonitor

/// The stack state an event was produced from, carried by value so that an NF running
/// later or on another core sees the flow as it was, while the stack moves on.
public struct StackSnapshot: Sendable {
    public var clientState: TCPState = .closed
    public var serverState: TCPState = .closed
    /// The handshake completed (both ends were ESTABLISHED at some point).
    public var established = false
    /// The packet's sequence and acknowledgment numbers, flags and payload length.
    public var sequence: UInt32 = 0
    public var acknowledgment: UInt32 = 0
    public var flags = TCPFlags(rawValue: 0)
    public var payloadLength: UInt16 = 0
    /// Stream offsets reached in each direction (bytes delivered plus gaps).
    public var toServerOffset: UInt64 = 0
    public var toClientOffset: UInt64 = 0

    public init() {}
}

/// Facts a custom event carries (what DPI detected, which rule alerted, a measured value).
public struct EventDetail: Sendable {
    /// The flow's application protocol (`DPI_DETECT`, `IDS_ALERT`); nil when not known.
    public var appProtocol: AppLayerProtocol?
    /// A rule index (IDS_ALERT) or another small integer the publisher defines.
    public var index: Int32 = -1
    /// A measured value (LONG_FLOW: average packet length).
    public var value: UInt64 = 0

    public init(appProtocol: AppLayerProtocol? = nil, index: Int32 = -1, value: UInt64 = 0) {
        self.appProtocol = appProtocol
        self.index = index
        self.value = value
    }
}

/// A typed message about one flow. Built by value on the producing side; nothing in it
/// needs freeing. Pointers (packet bytes, headers, stream bytes) stay valid until the
/// packet that caused the event has received its verdict.
public struct Event {
    public var type: EventTypeID
    /// Whose stack was updated (stack events); for `DATA_RDY`, the side that receives the bytes.
    public var side: FlowSide
    /// Whose packet caused it.
    public var cause: FlowSide
    public var slot: Int32
    public var flowID: UInt64
    /// Capture time of the causing packet, in nanoseconds.
    public var timestamp: UInt64
    public var snapshot: StackSnapshot
    /// The packet, when the event has one.
    public var packet: UnsafeRawBufferPointer
    public var headers: UnsafePointer<PacketHeaders>?
    /// `DATA_RDY`: the stream bytes (nil for a gap), their stream offset and length.
    public var data: UnsafeRawPointer?
    public var dataOffset: UInt64
    public var dataLength: Int
    public var detail: EventDetail
    /// The NF that published it, or -1 for the stack.
    public var publisher: Int8

    public init(type: EventTypeID, side: FlowSide, cause: FlowSide, slot: Int32, flowID: UInt64, timestamp: UInt64,
                snapshot: StackSnapshot = StackSnapshot(), packet: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0),
                headers: UnsafePointer<PacketHeaders>? = nil, data: UnsafeRawPointer? = nil, dataOffset: UInt64 = 0,
                dataLength: Int = 0, detail: EventDetail = EventDetail(), publisher: Int8 = -1) {
        self.type = type
        self.side = side
        self.cause = cause
        self.slot = slot
        self.flowID = flowID
        self.timestamp = timestamp
        self.snapshot = snapshot
        self.packet = packet
        self.headers = headers
        self.data = data
        self.dataOffset = dataOffset
        self.dataLength = dataLength
        self.detail = detail
        self.publisher = publisher
    }

    /// The packet's transport payload (empty without a packet).
    @inlinable
    public var payload: UnsafeRawBufferPointer {
        guard let headers, headers.pointee.payloadLength > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        let start = headers.pointee.payloadOffset
        return UnsafeRawBufferPointer(rebasing: packet[start..<(start + headers.pointee.payloadLength)])
    }

    /// `DATA_RDY` bytes (empty for a gap).
    @inlinable
    public var stream: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : dataLength) }

    /// `DATA_RDY` direction: bytes the client sent are received by the server.
    @inlinable
    public var direction: StreamDirection { cause == .client ? .toServer : .toClient }
}

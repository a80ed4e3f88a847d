import MBoxPacket

/// The application-layer buffers of one transaction (an HTTP request and its response, a
/// TLS handshake, a DNS message): each buffer's instances (several for `dns.query`,
/// `tls.certs`), indexed by `InspectionBuffer`.
public struct AppBuffers: Sendable {
    public var protocolName: AppLayerProtocol
    private var slots: [[[UInt8]]]

    public init(protocolName: AppLayerProtocol) {
        self.protocolName = protocolName
        slots = Array(repeating: [], count: InspectionBuffer.allCases.count)
    }

    public subscript(buffer: InspectionBuffer) -> [[UInt8]] {
        get { slots[Int(buffer.rawValue)] }
        set { slots[Int(buffer.rawValue)] = newValue }
    }

    /// Sets a buffer to one instance (nothing when `bytes` is nil).
    public mutating func set(_ buffer: InspectionBuffer, _ bytes: [UInt8]?) {
        slots[Int(buffer.rawValue)] = bytes.map { [$0] } ?? []
    }

    public func has(_ buffer: InspectionBuffer) -> Bool { !slots[Int(buffer.rawValue)].isEmpty }
}

/// A set of buffers (at most 64 kinds), as a bit mask: which buffers some rule reads, so the
/// parsers build no others.
public struct BufferMask: Sendable, Equatable {
    public var bits: UInt64
    public init(bits: UInt64 = 0) { self.bits = bits }
    public static let all = BufferMask(bits: .max)

    @inline(__always)
    public func contains(_ buffer: InspectionBuffer) -> Bool { bits & (1 << UInt64(buffer.rawValue)) != 0 }
    public mutating func insert(_ buffer: InspectionBuffer) { bits |= 1 << UInt64(buffer.rawValue) }
}

import MBoxPacket

/// The application-layer buffers of one transaction (an HTTP request and its response, a
/// TLS handshake, a DNS message): each buffer's instances (several for `dns.query`,
/// `tls.certs`). The bytes live in one arena and each instance is a span of it, so a
/// transaction costs two allocations however many buffers it fills.
public struct AppBuffers: Sendable {
    public var protocolName: AppLayerProtocol
    private var arena: [UInt8] = []
    private var spans: [Span] = []
    private var present = BufferMask()

    struct Span: Sendable {
        var buffer: UInt8
        var start: Int32
        var count: Int32
    }

    public init(protocolName: AppLayerProtocol) {
        self.protocolName = protocolName
        arena.reserveCapacity(1024)
        spans.reserveCapacity(16)
    }

    /// Sets a buffer to one instance (none when `bytes` is nil), replacing what it held.
    public mutating func set<Bytes: Collection>(_ buffer: InspectionBuffer, _ bytes: Bytes?) where Bytes.Element == UInt8 {
        remove(buffer)
        if let bytes { add(buffer, bytes) }
    }

    /// Adds one more instance of `buffer`.
    public mutating func add<Bytes: Collection>(_ buffer: InspectionBuffer, _ bytes: Bytes) where Bytes.Element == UInt8 {
        spans.append(Span(buffer: buffer.rawValue, start: Int32(arena.count), count: Int32(bytes.count)))
        arena.append(contentsOf: bytes)
        present.insert(buffer)
    }

    public mutating func remove(_ buffer: InspectionBuffer) {
        guard present.contains(buffer) else { return }
        // The old bytes stay in the arena until the transaction goes; only the span goes.
        spans.removeAll { $0.buffer == buffer.rawValue }
        present.bits &= ~(1 << UInt64(buffer.rawValue))
    }

    @inline(__always)
    public func has(_ buffer: InspectionBuffer) -> Bool { present.contains(buffer) }

    /// Calls `body` with each instance of `buffer` until it returns true; whether one did.
    @inline(__always)
    public func first(_ buffer: InspectionBuffer, where body: (UnsafeRawBufferPointer) -> Bool) -> Bool {
        guard present.contains(buffer) else { return false }
        return arena.withUnsafeBytes { bytes in
            for span in spans where span.buffer == buffer.rawValue {
                if body(UnsafeRawBufferPointer(rebasing: bytes[Int(span.start)..<Int(span.start + span.count)])) { return true }
            }
            return false
        }
    }

    /// The instances of `buffer`, copied (tests and diagnostics).
    public subscript(buffer: InspectionBuffer) -> [[UInt8]] {
        spans.filter { $0.buffer == buffer.rawValue }.map { Array(arena[Int($0.start)..<Int($0.start + $0.count)]) }
    }
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

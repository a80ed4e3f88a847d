import CHyperscan

/// One match: which pattern, and the offset just past its last byte.
public struct PatternHit: Sendable, Equatable {
    public var id: UInt32
    public var end: UInt64
}

/// Scans with one database on one thread: owns Hyperscan scratch space and a reusable
/// buffer of hits, so scanning allocates nothing.
public final class Scanner {
    public let database: PatternDatabase
    private var scratch: OpaquePointer?
    /// Hits of the last scan, in the order Hyperscan reported them.
    public private(set) var hits: UnsafeMutableBufferPointer<PatternHit>
    public private(set) var hitCount = 0
    /// Hits dropped because one scan found more than the buffer holds.
    public private(set) var droppedHits: UInt64 = 0

    private final class Sink {
        var base: UnsafeMutablePointer<PatternHit>
        var capacity: Int
        var count = 0
        var dropped: UInt64 = 0
        var offsetBase: UInt64 = 0
        init(base: UnsafeMutablePointer<PatternHit>, capacity: Int) {
            self.base = base
            self.capacity = capacity
        }
    }

    private let sink: Sink

    public init(database: PatternDatabase, maximumHits: Int = 1024) throws {
        self.database = database
        try HyperscanError.check(hs_alloc_scratch(database.database, &scratch), "hs_alloc_scratch")
        hits = .allocate(capacity: maximumHits)
        sink = Sink(base: hits.baseAddress!, capacity: maximumHits)
    }

    deinit {
        hs_free_scratch(scratch)
        hits.deallocate()
    }

    private static let onMatch: match_event_handler = { id, _, to, _, context in
        let sink = Unmanaged<Sink>.fromOpaque(context!).takeUnretainedValue()
        if sink.count < sink.capacity {
            sink.base[sink.count] = PatternHit(id: id, end: sink.offsetBase &+ to)
            sink.count += 1
        } else {
            sink.dropped &+= 1
        }
        return 0
    }

    @inline(__always)
    private func begin(offsetBase: UInt64) {
        sink.count = 0
        sink.offsetBase = offsetBase
    }

    @inline(__always)
    private func end() {
        hitCount = sink.count
        droppedHits &+= sink.dropped
        sink.dropped = 0
    }

    /// Scans one block (a packet payload). Hits' ends are offsets into `bytes`.
    public func scan(_ bytes: UnsafeRawBufferPointer) {
        begin(offsetBase: 0)
        if let base = bytes.baseAddress, !bytes.isEmpty {
            _ = hs_scan(database.database, base.assumingMemoryBound(to: CChar.self), UInt32(bytes.count), 0, scratch,
                        Self.onMatch, Unmanaged.passUnretained(sink).toOpaque())
        }
        end()
    }

    /// Opens a stream whose first byte is at stream offset `base` (after a gap, streams
    /// restart at the offset where data resumes).
    public func openStream() -> OpaquePointer? {
        var stream: OpaquePointer?
        guard hs_open_stream(database.database, 0, &stream) == HS_SUCCESS else { return nil }
        return stream
    }

    /// Scans the next bytes of a stream; hits' ends are `base` plus Hyperscan's stream offset.
    public func scan(stream: OpaquePointer, _ bytes: UnsafeRawBufferPointer, base: UInt64) {
        begin(offsetBase: base)
        if let pointer = bytes.baseAddress, !bytes.isEmpty {
            _ = hs_scan_stream(stream, pointer.assumingMemoryBound(to: CChar.self), UInt32(bytes.count), 0, scratch,
                               Self.onMatch, Unmanaged.passUnretained(sink).toOpaque())
        }
        end()
    }

    /// Closes a stream (end-of-data matches, e.g. `$` anchors, are reported as hits).
    public func closeStream(_ stream: OpaquePointer, base: UInt64) {
        begin(offsetBase: base)
        _ = hs_close_stream(stream, scratch, Self.onMatch, Unmanaged.passUnretained(sink).toOpaque())
        end()
    }

    /// The hits of the last scan.
    public var lastHits: UnsafeBufferPointer<PatternHit> { UnsafeBufferPointer(start: hits.baseAddress, count: hitCount) }
}

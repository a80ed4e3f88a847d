/// Which way bytes travel through a split connection.
public enum StreamDirection: UInt8, Sendable {
    /// Client → backend (requests).
    case toServer
    /// Backend → client (responses).
    case toClient

    /// Both, client's first (a constant: no array built per relay).
    static let both: [StreamDirection] = [.toServer, .toClient]
}

/// Bytes one side sent, on their way to the other: what NFs see in a `BYTESTREAM` event
/// and may rewrite (`StreamEdits`). Valid until the edits are committed.
public struct ByteStreamChunk {
    /// The connection's flow (its client leg) as NFs know it.
    public var slot: Int32
    public var flowID: UInt64
    public var direction: StreamDirection
    /// Where the bytes start in the sender's stream (bytes the NFs saw before, as sent).
    public var offset: UInt64
    public var bytes: UnsafeRawBufferPointer
    /// The sender finished after these bytes (holding any back is no longer possible).
    public var final: Bool
}

/// How NFs change a chunk: replacements of byte ranges (an empty range inserts, an empty
/// replacement deletes), in the chunk's own coordinates, and optionally a point from which
/// bytes are held back, to come again with the bytes that follow (a header split across
/// segments). Storage is kept between chunks: nothing is allocated in the steady state.
public struct StreamEdits {
    public struct Edit {
        public var range: Range<Int>
        /// Where the replacement sits in `replacementBytes`.
        var replacement: Range<Int>
    }

    /// Edits per chunk index (at most two chunks per packet: one each way).
    public private(set) var edits: [[Edit]] = [[], []]
    var replacementBytes: [UInt8] = []
    /// Per chunk: where holding back starts (nil: everything goes on).
    public private(set) var holds: [Int?] = [nil, nil]
    /// Edits refused: overlapping an earlier one or outside the chunk.
    public private(set) var refused = 0

    public init() {
        replacementBytes.reserveCapacity(4096)
        edits[0].reserveCapacity(16)
        edits[1].reserveCapacity(16)
    }

    public var isEmpty: Bool { edits[0].isEmpty && edits[1].isEmpty && holds[0] == nil && holds[1] == nil }

    /// Replaces bytes `range` of chunk `chunk` (of `length` bytes) with `bytes`.
    public mutating func replace(chunk: Int, length: Int, range: Range<Int>, with bytes: some Collection<UInt8>) {
        guard chunk < 2, range.lowerBound >= 0, range.upperBound <= length,
              !edits[chunk].contains(where: { $0.range.overlaps(range) || ($0.range.isEmpty && range.contains($0.range.lowerBound))
                                                 || (range.isEmpty && $0.range.contains(range.lowerBound)) })
        else {
            refused += 1
            return
        }
        let start = replacementBytes.count
        replacementBytes.append(contentsOf: bytes)
        edits[chunk].append(Edit(range: range, replacement: start..<replacementBytes.count))
    }

    /// Holds back chunk `chunk`'s bytes from `offset` on.
    public mutating func hold(chunk: Int, from offset: Int) {
        guard chunk < 2 else { return }
        holds[chunk] = min(holds[chunk] ?? offset, offset)
    }

    /// Forgets every edit (after they are applied).
    public mutating func removeAll() {
        edits[0].removeAll(keepingCapacity: true)
        edits[1].removeAll(keepingCapacity: true)
        replacementBytes.removeAll(keepingCapacity: true)
        holds[0] = nil
        holds[1] = nil
    }

    /// The replacement bytes of `edit`.
    func bytes(of edit: Edit) -> ArraySlice<UInt8> { replacementBytes[edit.replacement] }
}

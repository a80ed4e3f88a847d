import Foundation
import Synchronization
import MBoxProto
import SwiftProtobuf

/// Alerts on disk until the controller has stored them. The data path appends; the
/// control session reads what is pending, sends it, and acknowledges what the controller
/// confirmed. A restart (of either side) resends what was not confirmed; the controller
/// stores each (agent, spool id, sequence) once, so nothing is lost or doubled.
///
/// Files in the directory: `alerts.log` — records `[u32 length][u64 sequence][Alert]`,
/// little-endian, appended; `alerts.state` — the spool id and the last acknowledged
/// sequence, replaced atomically. A torn last record (crash mid-write) is cut off on open.
/// Bounded: past `maximumBytes` of pending alerts new ones are refused and counted.
public final class AlertSpool: Sendable {
    public let directory: String
    public let maximumBytes: Int
    /// Random per spool; see `Mbox_V1_Alert.spoolID`.
    public let spoolID: UInt64
    /// The log file and its index, one caller at a time (the workers' writer thread, the session).
    private let log: Mutex<Log>

    static let headerBytes = 12

    public init(directory: String, maximumBytes: Int = 256 << 20) throws {
        self.directory = directory
        self.maximumBytes = maximumBytes
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let state = try? Data(contentsOf: URL(fileURLWithPath: directory + "/alerts.state"))
        let acknowledged: UInt64
        if let state, state.count == 16 {
            spoolID = state.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self).littleEndian }
            acknowledged = state.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian }
        } else {
            spoolID = UInt64.random(in: 1...UInt64.max)
            acknowledged = 0
        }
        let opened = try Log(directory: directory, spoolID: spoolID, acknowledged: acknowledged)
        try opened.recover()
        try opened.writeState()
        log = Mutex(opened)
    }

    /// Appends an alert, giving it the next sequence and this spool's id. Returns false
    /// (and counts it) when the spool is full.
    @discardableResult
    public func append(_ alert: Mbox_V1_Alert) -> Bool { append(contentsOf: [alert]) == 1 }

    /// Appends alerts in order with one write (group commit), each given the next sequence
    /// and this spool's id; returns how many were taken. Past `maximumBytes` the rest are
    /// refused and counted; so is a batch the disk refused.
    @discardableResult
    public func append(contentsOf alerts: [Mbox_V1_Alert]) -> Int {
        log.withLock { $0.append(alerts, maximumBytes: maximumBytes) }
    }

    /// Up to `limit` pending alerts with a sequence above `sequence`, oldest first.
    public func pending(after sequence: UInt64, limit: Int) throws -> [Mbox_V1_Alert] {
        try log.withLock { try $0.pending(after: sequence, limit: limit) }
    }

    /// The controller stored everything through `sequence`: forget it. The log is emptied
    /// when nothing is pending, and compacted when most of it is acknowledged.
    public func acknowledge(through sequence: UInt64) throws {
        try log.withLock { try $0.acknowledge(through: sequence) }
    }

    /// Flushes appended records to the device.
    public func sync() {
        log.withLock { _ = fsync($0.descriptor) }
    }

    public var pendingCount: Int { log.withLock { $0.index.count - $0.indexHead } }

    /// Alerts refused because the spool was full (or the disk failed).
    public var refused: UInt64 { log.withLock { $0.refusedCount } }

    public var lastAcknowledged: UInt64 { log.withLock { $0.acknowledged } }
}

/// The spool's files and what it knows of them; used under the spool's lock only.
private final class Log {
    let directory: String
    let spoolID: UInt64
    var descriptor: Int32
    var fileSize = 0
    var nextSequence: UInt64
    var acknowledged: UInt64
    /// Pending records in order: sequence, offset of the record, whole record length.
    var index: [(sequence: UInt64, offset: Int, length: Int)] = []
    var indexHead = 0
    var refusedCount: UInt64 = 0

    var headerBytes: Int { AlertSpool.headerBytes }

    init(directory: String, spoolID: UInt64, acknowledged: UInt64) throws {
        self.directory = directory
        self.spoolID = spoolID
        self.acknowledged = acknowledged
        nextSequence = acknowledged + 1
        descriptor = open(directory + "/alerts.log", O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw SpoolError("cannot open \(directory)/alerts.log: \(String(cString: strerror(errno)))") }
    }

    deinit { close(descriptor) }

    /// Reads the log: indexes records past the acknowledged sequence, cuts a torn tail.
    func recover() throws {
        let size = Int(lseek(descriptor, 0, SEEK_END))
        var offset = 0
        var header = [UInt8](repeating: 0, count: headerBytes)
        while offset + headerBytes <= size {
            guard pread(descriptor, &header, headerBytes, off_t(offset)) == headerBytes else { break }
            let length = Int(UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24)
            let sequence = header[4..<12].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            guard offset + headerBytes + length <= size else { break }
            if sequence > acknowledged { index.append((sequence, offset, headerBytes + length)) }
            nextSequence = max(nextSequence, sequence + 1)
            offset += headerBytes + length
        }
        if offset < size { guard ftruncate(descriptor, off_t(offset)) == 0 else { throw SpoolError("cannot repair alerts.log") } }
        fileSize = offset
    }

    func writeState() throws {
        var bytes = Data(count: 16)
        bytes.withUnsafeMutableBytes {
            $0.storeBytes(of: spoolID.littleEndian, toByteOffset: 0, as: UInt64.self)
            $0.storeBytes(of: acknowledged.littleEndian, toByteOffset: 8, as: UInt64.self)
        }
        try bytes.write(to: URL(fileURLWithPath: directory + "/alerts.state"), options: .atomic)
    }

    func append(_ alerts: [Mbox_V1_Alert], maximumBytes: Int) -> Int {
        var records: [UInt8] = []
        var entries: [(sequence: UInt64, offset: Int, length: Int)] = []
        var sequence = nextSequence
        var pending = pendingBytes
        for var alert in alerts {
            alert.sequence = sequence
            alert.spoolID = spoolID
            guard let payload: [UInt8] = try? alert.serializedBytes(), pending + headerBytes + payload.count <= maximumBytes else {
                break
            }
            entries.append((sequence, fileSize + records.count, headerBytes + payload.count))
            withUnsafeBytes(of: UInt32(payload.count).littleEndian) { records.append(contentsOf: $0) }
            withUnsafeBytes(of: sequence.littleEndian) { records.append(contentsOf: $0) }
            records += payload
            pending += headerBytes + payload.count
            sequence += 1
        }
        let written = records.isEmpty ? 0 : records.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == records.count else {
            if written > 0 { _ = ftruncate(descriptor, off_t(fileSize)) }
            refusedCount += UInt64(alerts.count)
            return 0
        }
        index.append(contentsOf: entries)
        fileSize += records.count
        nextSequence = sequence
        refusedCount += UInt64(alerts.count - entries.count)
        return entries.count
    }

    func pending(after sequence: UInt64, limit: Int) throws -> [Mbox_V1_Alert] {
        var result: [Mbox_V1_Alert] = []
        var position = indexHead
        while position < index.count, index[position].sequence <= sequence { position += 1 }
        while position < index.count, result.count < limit {
            let entry = index[position]
            var bytes = [UInt8](repeating: 0, count: entry.length - headerBytes)
            guard pread(descriptor, &bytes, bytes.count, off_t(entry.offset + headerBytes)) == bytes.count else {
                throw SpoolError("cannot read alerts.log at offset \(entry.offset)")
            }
            result.append(try Mbox_V1_Alert(serializedBytes: bytes))
            position += 1
        }
        return result
    }

    func acknowledge(through sequence: UInt64) throws {
        guard sequence > acknowledged else { return }
        acknowledged = min(sequence, nextSequence - 1)
        try writeState()
        while indexHead < index.count, index[indexHead].sequence <= acknowledged { indexHead += 1 }
        if indexHead == index.count {
            guard ftruncate(descriptor, 0) == 0 else { throw SpoolError("cannot truncate alerts.log") }
            index.removeAll(keepingCapacity: true)
            indexHead = 0
            fileSize = 0
        } else if index[indexHead].offset > 1 << 20, index[indexHead].offset > fileSize / 2 {
            try compact()
        }
    }

    /// Rewrites the pending records into a fresh log (rename over the old one).
    private func compact() throws {
        let start = index[indexHead].offset
        var bytes = [UInt8](repeating: 0, count: fileSize - start)
        guard pread(descriptor, &bytes, bytes.count, off_t(start)) == bytes.count else { throw SpoolError("cannot read alerts.log") }
        let temporary = directory + "/alerts.log.new"
        try Data(bytes).write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, directory + "/alerts.log") == 0 else { throw SpoolError("cannot replace alerts.log") }
        close(descriptor)
        descriptor = open(directory + "/alerts.log", O_RDWR | O_APPEND | O_CLOEXEC)
        guard descriptor >= 0 else { throw SpoolError("cannot reopen alerts.log") }
        index = index[indexHead...].map { ($0.sequence, $0.offset - start, $0.length) }
        indexHead = 0
        fileSize -= start
    }

    private var pendingBytes: Int { indexHead < index.count ? fileSize - index[indexHead].offset : 0 }
}

public struct SpoolError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

import MBoxDataPath
import MBoxTCPMonitor
/// The fuzz targets by name. Each takes any bytes and must neither crash nor hold
/// unbounded memory; what it asserts is in its own file.
enum FuzzTargets {
    typealias Target = (UnsafeRawBufferPointer) -> Void

    nonisolated(unsafe) static var selected: Target = { _ in }

    static let names = ["capture", "packet-path", "rules", "chain", "app-layer", "tcp-endpoint", "agent"]

    static func named(_ name: String) -> Target? {
        switch name {
        case "capture": return CaptureFuzzTarget.run
        case "packet-path": return PacketPathFuzzTarget.run
        case "rules": return RulesFuzzTarget.run
        case "chain": return ChainFuzzTarget.run
        case "app-layer": return AppLayerFuzzTarget.run
        case "tcp-endpoint": return TCPEndpointFuzzTarget.run
        case "agent": return AgentFuzzTarget.run
        default: return nil
        }
    }
}

/// A data path with small limits, so fuzz inputs reach them: 64 flows, 4 KiB per stream
/// direction (`perDirection`), 16 KiB in all (`global`), 8 datagrams in defragmentation,
/// checksums not checked (mutated packets would fail them and stop short).
func smallDataPathConfiguration(perDirection: Int = 4096, global: Int = 16 * 1024) -> DataPathConfiguration {
    var configuration = DataPathConfiguration()
    configuration.flowTable = .init(capacity: 64, idleTimeoutSeconds: 30)
    var reassembly = ReassemblyConfiguration()
    reassembly.perDirectionLimit = perDirection
    reassembly.globalLimit = global
    configuration.reassembly = reassembly
    configuration.defragmentation.memoryLimit = 65_535 * 2
    configuration.defragmentation.maximumDatagrams = 8
    configuration.checksumValidation = .no
    return configuration
}

/// Reads the input from the front: the fuzzer's bytes become choices and pieces.
struct FuzzInput {
    var bytes: UnsafeRawBufferPointer
    var cursor = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var isEmpty: Bool { cursor >= bytes.count }

    mutating func byte() -> UInt8 {
        guard cursor < bytes.count else { return 0 }
        defer { cursor += 1 }
        return bytes[cursor]
    }

    mutating func u16() -> Int { Int(byte()) << 8 | Int(byte()) }

    /// The next `count` bytes (fewer at the end).
    mutating func take(_ count: Int) -> UnsafeRawBufferPointer {
        let end = min(bytes.count, cursor + count)
        defer { cursor = end }
        return UnsafeRawBufferPointer(rebasing: bytes[cursor..<end])
    }

    var rest: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[min(cursor, bytes.count)...]) }
}

/// A fuzz target found something a test asserts: stop with the reason, as a crash would.
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError("fuzz check failed: \(message())") }
}

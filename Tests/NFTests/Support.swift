import Foundation
import MBoxCapture
import MBoxChain
import MBoxDataPath
import MBoxEvents
import MBoxNFRunner
import MBoxNFs
import MBoxTCPMonitor
import MBoxTrafficGen

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// A temporary directory, removed when the value goes.
final class Scratch {
    let path: String

    init(_ name: String) throws {
        path = NSTemporaryDirectory() + "mbox-\(name)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A generated capture kept in memory, with its packets indexed.
final class MemoryCapture {
    let bytes: [UInt8]
    let summary: GenerationSummary
    private(set) var packets: [CapturedPacket] = []
    private let storage: UnsafeMutableRawBufferPointer

    init(_ profile: TrafficProfile) throws {
        let writer = try PcapWriter(.memory)
        summary = try TrafficGenerator(profile: profile).write(to: writer)
        bytes = writer.memory
        storage = .allocate(byteCount: bytes.count, alignment: 16)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0) }
        let reader = try CaptureFileReader(bytes: UnsafeRawBufferPointer(storage))
        while let packet = try reader.next() { packets.append(packet) }
    }

    /// A capture of the given frames, a millisecond apart.
    init(frames: [[UInt8]]) throws {
        let writer = try PcapWriter(.memory)
        for (index, frame) in frames.enumerated() {
            try writer.write(timestamp: 1_700_000_000_000_000_000 + UInt64(index) * 1_000_000, bytes: frame)
        }
        summary = GenerationSummary()
        bytes = writer.memory
        storage = .allocate(byteCount: bytes.count, alignment: 16)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0) }
        let reader = try CaptureFileReader(bytes: UnsafeRawBufferPointer(storage))
        while let packet = try reader.next() { packets.append(packet) }
    }

    /// The capture with every packet's IP payload cut into fragments (`IPFragments`).
    init(fragmenting capture: MemoryCapture, size: Int, order: Int) throws {
        let writer = try PcapWriter(.memory)
        let frames = capture.packets.map { (timestamp: $0.timestamp, frame: Array($0.data)) }
        for (timestamp, frame) in IPFragments.fragment(frames, size: size, order: order) {
            try writer.write(timestamp: timestamp, bytes: frame)
        }
        summary = capture.summary
        bytes = writer.memory
        storage = .allocate(byteCount: bytes.count, alignment: 16)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0) }
        let reader = try CaptureFileReader(bytes: UnsafeRawBufferPointer(storage))
        while let packet = try reader.next() { packets.append(packet) }
    }

    deinit { storage.deallocate() }

    func write(to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }
}

/// An NF for tests: records what it receives and can act on custom events.
final class RecorderNF: NetworkFunction {
    struct Seen {
        var type: EventTypeID
        var flowID: UInt64
        var side: FlowSide
        var cause: FlowSide
        var snapshot: StackSnapshot
        var dataOffset: UInt64
        var dataLength: Int
        var payloadLength: Int
    }
    var seen: [Seen] = []
    var started: [Int32] = []
    var ended: [Int32] = []
    /// On a custom event, turn on the dynamic subscriptions for its flow.
    var subscribeOnCustom = false
    var context: NFContext!

    func attach(_ context: NFContext) { self.context = context }
    func flowStarted(slot: Int32) { started.append(slot) }
    func flowEnded(slot: Int32) { ended.append(slot) }
    func handle(_ event: Event) {
        seen.append(Seen(type: event.type, flowID: event.flowID, side: event.side, cause: event.cause,
                         snapshot: event.snapshot, dataOffset: event.dataOffset, dataLength: event.dataLength,
                         payloadLength: event.payload.count))
        if subscribeOnCustom, context.types.isA(event.type, .custom) { context.subscribeDynamic(slot: event.slot) }
    }
}

/// Runs every packet of `capture` through `pipeline`, collecting alerts as (sid-less) rule indices per flow.
@discardableResult
func replay(_ capture: MemoryCapture, through pipeline: Pipeline) -> [(flowID: UInt64, rule: Int32, publisher: Int8)] {
    var alerts: [(UInt64, Int32, Int8)] = []
    var last: UInt64 = 0
    for packet in capture.packets {
        _ = pipeline.process(packet)
        alerts += pipeline.chain.alerts.map { ($0.flowID, $0.detail.index, $0.publisher) }
        last = packet.timestamp
    }
    pipeline.finish(timestamp: last)
    alerts += pipeline.chain.alerts.map { ($0.flowID, $0.detail.index, $0.publisher) }
    return alerts.map { (flowID: $0.0, rule: $0.1, publisher: $0.2) }
}

func compileChain(_ yaml: String, file: String = "test.yaml", rules: String? = nil) throws -> CompiledChain {
    let definition = try ChainParser().parse(yaml, file: file)
    return try ChainCompiler().compile(definition, resources: BuildResources(rulesOverride: rules))
}

let webRules = packageRoot + "/rules/web-attacks.rules"

func installed(_ program: String) -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "command -v \(program) >/dev/null"]
    try? process.run()
    process.waitUntilExit()
    return process.terminationStatus == 0
}

// Data-plane benchmark: replays a generated HTTP capture from memory through each stage
// of the agent's data path and prints packets/s and Gbps per core.
//
//   swift run -c release mbox-bench-dataplane [--packets N] [--runs R]
//
// The capture is generated and indexed before timing starts, like a burst of mbufs.

import Foundation
import MBoxCapture
import MBoxDataPath
import MBoxFlow
import MBoxPacket
import MBoxTCPMonitor
import MBoxTrafficGen

struct Options {
    var packets = 500_000
    var runs = 7
    /// Run only the stage with this name (for profiling).
    var only: String?

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--packets": packets = Int(iterator.next() ?? "") ?? packets
            case "--runs": runs = Int(iterator.next() ?? "") ?? runs
            case "--only": only = iterator.next()
            default:
                FileHandle.standardError.write(Data("usage: mbox-bench-dataplane [--packets N] [--runs R] [--only parse|flows|monitor|reassembly]\n".utf8))
                exit(2)
            }
        }
    }
}

let options = Options(CommandLine.arguments)

// HTTP POST flows of ~10 packets each (handshake, request, response, ACKs, close).
var profile = TrafficProfile()
profile.seed = 2026
profile.applications = [.http]
profile.flows = options.packets / 10
profile.concurrency = 64
profile.requestBodySize = 64
profile.responseBodySize = 512
let writer = try PcapWriter(.memory)
let generated = try TrafficGenerator(profile: profile).write(to: writer)
let capture = writer.memory
let flowCapacity = 1 << 17

let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: capture.count, alignment: 64)
capture.withUnsafeBytes { storage.copyMemory(from: $0) }
var packets: [CapturedPacket] = []
packets.reserveCapacity(generated.packets)
let reader = try CaptureFileReader(bytes: UnsafeRawBufferPointer(storage))
while let packet = try reader.next() { packets.append(packet) }
let totalBytes = packets.reduce(0) { $0 + $1.data.count }

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// One stage of the data path to time: `setUp` builds fresh state outside the timing,
/// `body` replays every packet and returns a figure that shows the work was done.
struct Stage {
    let name: String
    let label: String
    let run: () -> (seconds: Double, check: Int)

    init<State>(_ name: String, _ label: String, setUp: @escaping () -> State, body: @escaping (State) -> Int) {
        self.name = name
        self.label = label
        run = {
            let state = setUp()
            let start = now()
            let check = body(state)
            return (Double(now() - start) / 1e9, check)
        }
    }
}

func dataPath(reassembly: Bool) -> DataPath {
    var configuration = DataPathConfiguration()
    configuration.flowTable = .init(capacity: flowCapacity)
    if !reassembly { configuration.reassembly = nil }
    return DataPath(configuration: configuration)
}

let stages = [
    Stage("parse", "parse only", setUp: {}) { _ in
        var headers = PacketHeaders()
        var ok = 0
        for packet in packets where PacketParser.parse(packet.data, linkType: packet.linkType, into: &headers) == .ok { ok += 1 }
        return ok
    },
    Stage("flows", "parse + flow table", setUp: { FlowTable(configuration: .init(capacity: flowCapacity)) }) { table in
        var headers = PacketHeaders()
        for packet in packets {
            guard PacketParser.parse(packet.data, linkType: packet.linkType, into: &headers) == .ok else { continue }
            let hash = SymmetricFlowHash.hash(source: headers.source, sourcePort: headers.sourcePort,
                                              destination: headers.destination, destinationPort: headers.destinationPort,
                                              ipProtocol: headers.ipProtocol)
            if table.lookup(headers, hash: hash, now: packet.timestamp) == nil {
                if table.isFull, let oldest = table.oldestSlot { table.remove(oldest, reason: .evicted) }
                _ = table.insert(headers, hash: hash, sourceIsClient: !headers.tcpFlags.contains([.syn, .ack]), now: packet.timestamp)
            }
        }
        return table.count
    },
    Stage("monitor", "+ TCP Monitor", setUp: { dataPath(reassembly: false) }) { path in
        for packet in packets { _ = path.process(packet) }
        return Int(path.monitor.counters.closedFlows)
    },
    Stage("reassembly", "+ reassembly", setUp: { dataPath(reassembly: true) }) { path in
        var delivered = 0
        for packet in packets {
            _ = path.process(packet)
            for chunk in path.chunks { delivered &+= chunk.length }
        }
        return delivered
    },
].filter { options.only == nil || options.only == $0.name }

// Rounds interleave the stages so that noise from the rest of the machine spreads over all of them.
var times = [[Double]](repeating: [], count: stages.count)
var checks = [Int](repeating: 0, count: stages.count)
for _ in 0..<options.runs {
    for (index, stage) in stages.enumerated() {
        let result = stage.run()
        times[index].append(result.seconds)
        checks[index] = result.check
    }
}
let medians = times.map { $0.sorted()[$0.count / 2] }

let stateBytes = dataPath(reassembly: false).bytesPerFlow
print("mbox-bench-dataplane: \(packets.count) packets, \(totalBytes) bytes, \(generated.tcpFlows) HTTP flows, "
      + "median of \(options.runs) runs, one core, release build")
print("")
print("| stage                         |   Mpps | Gbps  | vs first stage |")
print("|-------------------------------|-------:|------:|---------------:|")
for (index, stage) in stages.enumerated() {
    let mpps = Double(packets.count) / medians[index] / 1e6
    let gbps = Double(totalBytes) * 8 / medians[index] / 1e9
    let padded = stage.label.padding(toLength: 29, withPad: " ", startingAt: 0)
    print("| \(padded) |" + String(format: " %6.2f | %5.2f | %13.2fx |", mpps, gbps, medians[0] / medians[index]))
}
print("")
print("state per flow without reassembly: \(stateBytes) bytes (flow table \(stateBytes - TCPMonitor.bytesPerFlow) + TCP Monitor \(TCPMonitor.bytesPerFlow))")
print("checks: " + zip(stages, checks).map { "\($0.name) \($1)" }.joined(separator: ", "))

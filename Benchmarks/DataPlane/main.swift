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
import MBoxTCP
import MBoxTrafficGen

struct Options {
    var packets = 500_000
    var runs = 5
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
storage.copyMemory(from: UnsafeRawBufferPointer(start: capture, count: capture.count))
var packets: [CapturedPacket] = []
packets.reserveCapacity(generated.packets)
let reader = try CaptureFileReader(bytes: UnsafeRawBufferPointer(storage))
while let packet = try reader.next() { packets.append(packet) }
let totalBytes = packets.reduce(0) { $0 + $1.data.count }

func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Runs `body` `options.runs` times on fresh state from `setUp`; returns the median seconds.
func measure<State>(_ name: String, _ setUp: () -> State, _ body: (State) -> Int) -> (seconds: Double, check: Int) {
    if let only = options.only, only != name { return (.nan, 0) }
    var times: [Double] = []
    var check = 0
    for _ in 0..<options.runs {
        let state = setUp()
        let start = now()
        check = body(state)
        times.append(Double(now() - start) / 1e9)
    }
    times.sort()
    return (times[times.count / 2], check)
}

let parseOnly = measure("parse", { () }) { _ in
    var headers = PacketHeaders()
    var ok = 0
    for packet in packets where PacketParser.parse(packet.data, linkType: packet.linkType, into: &headers) == .ok { ok += 1 }
    return ok
}

let withFlows = measure("flows", { FlowTable(configuration: .init(capacity: flowCapacity)) }) { table in
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
}

func dataPath(reassembly: Bool) -> DataPath {
    var configuration = DataPathConfiguration()
    configuration.flowTable = .init(capacity: flowCapacity)
    if !reassembly { configuration.reassembly = nil }
    return DataPath(configuration: configuration)
}

let withMonitor = measure("monitor", { dataPath(reassembly: false) }) { path in
    for packet in packets { _ = path.process(packet) }
    return Int(path.monitor.counters.closedFlows)
}

let withReassembly = measure("reassembly", { dataPath(reassembly: true) }) { path in
    var delivered = 0
    for packet in packets {
        _ = path.process(packet)
        for chunk in path.chunks { delivered &+= chunk.length }
    }
    return delivered
}

let stateBytes = dataPath(reassembly: false).bytesPerFlow
print("mbox-bench-dataplane: \(packets.count) packets, \(totalBytes) bytes, \(generated.tcpFlows) HTTP flows, "
      + "median of \(options.runs) runs, one core, release build")
print("")
print("| stage                         |   Mpps | Gbps  | vs parse only |")
print("|-------------------------------|-------:|------:|--------------:|")
for (name, result) in [("parse only", parseOnly), ("parse + flow table", withFlows),
                       ("+ TCP Monitor", withMonitor), ("+ reassembly", withReassembly)] {
    let mpps = Double(packets.count) / result.seconds / 1e6
    let gbps = Double(totalBytes) * 8 / result.seconds / 1e9
    let padded = name.padding(toLength: 29, withPad: " ", startingAt: 0)
    print("| \(padded) |" + String(format: " %6.2f | %5.2f | %12.2fx |", mpps, gbps, parseOnly.seconds / result.seconds))
}
print("")
print("state per flow without reassembly: \(stateBytes) bytes (flow table \(stateBytes - TCPMonitor.bytesPerFlow) + TCP Monitor \(TCPMonitor.bytesPerFlow))")
print("checks: \(parseOnly.check) parsed, \(withFlows.check) flows, \(withMonitor.check) closed, \(withReassembly.check) stream bytes")

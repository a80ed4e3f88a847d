import Foundation

/// Reassembled TCP streams as tshark follows them (`-z follow,tcp,raw,N`): an outside
/// oracle for the agent's reassembly.
enum TsharkOracle {
    static func streams(of pcap: String) throws -> [FlowStreams] {
        let indexRun = try run(["tshark", "-r", pcap, "-T", "fields", "-e", "tcp.stream"])
        guard indexRun.status == 0 else { throw OracleError.failed(indexRun.stderr) }
        let indices = Set(String(decoding: indexRun.stdout, as: UTF8.self).split(separator: "\n").compactMap { Int($0) })
        var streams: [FlowStreams] = []
        // tshark follows many streams in one pass; batches keep the command line short.
        let sorted = indices.sorted()
        for start in stride(from: 0, to: sorted.count, by: 200) {
            let batch = sorted[start..<min(start + 200, sorted.count)]
            var arguments = ["tshark", "-r", pcap, "-q"]
            for index in batch { arguments += ["-z", "follow,tcp,raw,\(index)"] }
            let followRun = try run(arguments)
            guard followRun.status == 0 else { throw OracleError.failed(followRun.stderr) }
            streams += parse(String(decoding: followRun.stdout, as: UTF8.self))
        }
        return streams
    }

    enum OracleError: Error { case failed(String) }

    /// Sections start with "Follow: tcp,raw" and name "Node 0" (first packet's sender)
    /// and "Node 1"; hex lines from node 1 are indented with a tab.
    static func parse(_ text: String) -> [FlowStreams] {
        var result: [FlowStreams] = []
        var current: FlowStreams?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("Follow: ") {
                if let current { result.append(current) }
                current = FlowStreams(client: "", server: "", toServer: [], toClient: [])
            } else if line.hasPrefix("Node 0: ") {
                current?.client = String(line.dropFirst(8))
            } else if line.hasPrefix("Node 1: ") {
                current?.server = String(line.dropFirst(8))
            } else if line.hasPrefix("=====") || line.hasPrefix("Filter:") || line.isEmpty {
                continue
            } else if line.hasPrefix("\t") {
                current?.toClient += hexBytes(line.dropFirst())
            } else {
                current?.toServer += hexBytes(line[...])
            }
        }
        if let current { result.append(current) }
        return result
    }

    private static func hexBytes(_ text: Substring) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        for c in text.utf8 {
            let nibble: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = c - UInt8(ascii: "a") + 10
            default: continue
            }
            if let h = high { bytes.append(h << 4 | nibble); high = nil } else { high = nibble }
        }
        return bytes
    }
}

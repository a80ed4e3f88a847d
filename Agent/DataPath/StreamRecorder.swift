import Foundation
import MBoxTCPMonitor

/// Collects each TCP flow's two reassembled streams and writes one JSON object per flow
/// per line when the flow ends:
/// `{"flow_id","src_ip","src_port","dest_ip","dest_port","to_server","to_client",…}`
/// with src = the flow's client and the streams in base64.
public final class StreamRecorder {
    private struct Streams {
        var toServer: [UInt8] = []
        var toClient: [UInt8] = []
        var gapsToServer = 0
        var gapsToClient = 0
        var gapBytesToServer: UInt64 = 0
        var gapBytesToClient: UInt64 = 0
    }

    private var open: [UInt64: Streams] = [:]
    private let output: FileHandle
    private var pending = Data()
    public private(set) var flowsWritten = 0

    /// Writes lines to `output` (buffered; call `flush()` at the end).
    public init(output: FileHandle) {
        self.output = output
    }

    /// Takes the chunks and ended flows of the data path's last step.
    public func record(_ dataPath: DataPath) throws {
        for chunk in dataPath.chunks { append(chunk) }
        for flow in dataPath.endedFlows where flow.tcp != nil { try write(flow) }
    }

    public func flush() throws {
        if !pending.isEmpty {
            try output.write(contentsOf: pending)
            pending.removeAll(keepingCapacity: true)
        }
    }

    private func append(_ chunk: StreamChunk) {
        var streams = open.removeValue(forKey: chunk.flowID) ?? Streams()
        switch (chunk.direction, chunk.isGap) {
        case (.toServer, false): streams.toServer.append(contentsOf: chunk.buffer)
        case (.toClient, false): streams.toClient.append(contentsOf: chunk.buffer)
        case (.toServer, true):
            streams.gapsToServer += 1
            streams.gapBytesToServer += UInt64(chunk.length)
        case (.toClient, true):
            streams.gapsToClient += 1
            streams.gapBytesToClient += UInt64(chunk.length)
        }
        open[chunk.flowID] = streams
    }

    private func write(_ flow: FlowEnd) throws {
        let streams = open.removeValue(forKey: flow.flowID) ?? Streams()
        var line = "{\"flow_id\":\(flow.flowID)"
        line += ",\"src_ip\":\"\(flow.key.client)\",\"src_port\":\(flow.key.clientPort)"
        line += ",\"dest_ip\":\"\(flow.key.server)\",\"dest_port\":\(flow.key.serverPort)"
        line += ",\"proto\":\"TCP\""
        line += ",\"to_server\":\"\(Data(streams.toServer).base64EncodedString())\""
        line += ",\"to_client\":\"\(Data(streams.toClient).base64EncodedString())\""
        line += ",\"to_server_bytes\":\(streams.toServer.count),\"to_client_bytes\":\(streams.toClient.count)"
        line += ",\"gaps_to_server\":\(streams.gapsToServer),\"gap_bytes_to_server\":\(streams.gapBytesToServer)"
        line += ",\"gaps_to_client\":\(streams.gapsToClient),\"gap_bytes_to_client\":\(streams.gapBytesToClient)"
        if let tcp = flow.tcp {
            line += ",\"client_state\":\"\(tcp.client.state)\",\"server_state\":\"\(tcp.server.state)\""
        }
        line += ",\"end\":\"\(flow.reason.rawValue)\"}\n"
        pending.append(contentsOf: Array(line.utf8))
        flowsWritten += 1
        if pending.count >= 1 << 20 { try flush() }
    }
}

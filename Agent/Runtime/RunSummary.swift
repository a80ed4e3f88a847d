import Foundation
import MBoxAppLayer
import MBoxDataPath
import MBoxFlow
import MBoxEvents
import MBoxNFRunner
import MBoxPacket

/// The summary a run prints to stderr: what each stage counted.
public struct RunSummary {
    public let dataPath: DataPath
    public let pipeline: Pipeline?
    public let seconds: Double
    public let flowsWritten: Int?
    public let alertsWritten: Int?

    public init(dataPath: DataPath, pipeline: Pipeline?, seconds: Double, flowsWritten: Int?, alertsWritten: Int?) {
        self.dataPath = dataPath
        self.pipeline = pipeline
        self.seconds = seconds
        self.flowsWritten = flowsWritten
        self.alertsWritten = alertsWritten
    }

    public func print() {
        let c = dataPath.counters
        let f = dataPath.flows.counters
        let m = dataPath.monitor.counters
        var lines = [
            "packets      \(c.packets)  (\(c.bytes) bytes; ipv4 \(c.ipv4), ipv6 \(c.ipv6), tcp \(c.tcp), udp \(c.udp), other \(c.otherTransport))",
            "not ip       \(c.notIP)   fragments \(c.fragments) (datagrams reassembled \(dataPath.defragmentation.reassembled), "
                + "overlapping \(dataPath.defragmentation.overlaps), timed out \(dataPath.defragmentation.timedOut), "
                + "dropped \(dataPath.defragmentation.dropped), invalid \(dataPath.defragmentation.invalid))",
            "checksums    \(c.badChecksums) TCP data segments with a wrong checksum left out"
                + (c.checksumValidationOff ? " (validation given up: offloaded checksums)" : ""),
            "malformed    \(c.malformed.total)" + c.malformed.nonZero.map { "  \($0.0)=\($0.1)" }.joined(),
            "flows        \(f.created) created, \(f.expired) expired, \(f.evicted) evicted",
            "stacks       flows on " + StackKind.allCases.map { "\($0)=\(c.flows(on: $0))" }.joined(separator: " ")
                + ", \(c.consumedByStack) packets taken by their stack; \(dataPath.outbox.counters.emitted) frames emitted"
                + (dataPath.outbox.counters.overflowed > 0 ? ", \(dataPath.outbox.counters.overflowed) outbox full" : ""),
            "tcp          \(m.closedFlows) closed, \(m.midStreamPickups) picked up mid-stream, \(m.invalidResets) invalid RSTs ignored",
        ]
        if let r = dataPath.monitor.reassembler?.counters {
            lines.append("reassembly   \(r.deliveredBytes) bytes delivered, \(r.gaps) gaps (\(r.gapBytes) bytes), "
                + "\(r.duplicateBytes) duplicate, \(r.conflictingBytes) conflicting overlap, "
                + "dropped: \(r.droppedOverFlowLimit) over flow limit, \(r.droppedOverGlobalLimit) over global limit, "
                + "\(r.evictedBytes) given up for fair shares")
        }
        if let splicer = dataPath.splicer?.counters {
            lines.append("splicer      \(splicer.synCookiesSent) SYN cookies sent, \(splicer.cookiesAccepted) accepted, "
                + "\(splicer.cookiesRejected) rejected; \(splicer.requests) requests, \(splicer.spliced) spliced, "
                + "\(splicer.refused) refused, \(splicer.backendFailures) backend failures, \(splicer.handedOff) handed to the split proxy; "
                + "\(splicer.packetsRewritten) packets translated; "
                + "ARP \(dataPath.arp?.counters.answered ?? 0) answered, \(dataPath.arp?.counters.asked ?? 0) asked")
        }
        if let proxy = dataPath.splitProxy {
            let c = proxy.counters, tcp = proxy.endpointCounters
            lines.append("split proxy  \(c.connections) connections (\(c.finished) finished, \(c.resets) reset, \(c.cutOff) cut off at their flow's end, \(c.refused) refused, "
                + "\(c.active) open); \(c.bytesToServer) bytes to servers, \(c.bytesToClient) to clients; \(c.chunksEdited) chunks edited, "
                + "\(c.editsRefused) edits refused; TCP: \(tcp.segmentsSent) segments sent, \(tcp.fastRetransmits) fast and "
                + "\(tcp.timeoutRetransmits) timeout retransmissions (\(tcp.lostRetransmits) resent twice), \(tcp.recoveries) recoveries (\(tcp.spuriousRecoveries) undone), \(tcp.probes) tail probes, \(tcp.outOfOrder) out of order, "
                + "\(tcp.dropped) dropped")
        }
        if let flowsWritten { lines.append("streams      \(flowsWritten) TCP flows written") }
        if let pipeline {
            let chain = pipeline.chain
            let types = chain.types
            let produced = (0..<types.count).filter { pipeline.source.produced[$0] > 0 }
                .map { "\(types.names[$0])=\(pipeline.source.produced[$0])" }
            let delivered = (0..<types.count).filter { chain.counters.delivered[$0] > 0 }
                .map { "\(types.names[$0])=\(chain.counters.delivered[$0])" }
            if let stage = pipeline.source.appLayer {
                let a = stage.counters
                let parsed = AppLayerProtocol.allCases.filter { a.transactions[Int($0.rawValue)] > 0 }
                    .map { "\($0)=\(a.transactions[Int($0.rawValue)])" }
                lines.append("app layer    \(a.httpRequests) HTTP requests parsed (once each, whatever NFs read them); "
                    + "transactions " + (parsed.isEmpty ? "none" : parsed.joined(separator: " ")) + "; \(a.bytesParsed) bytes parsed")
            }
            lines.append("events       produced " + produced.joined(separator: " "))
            lines.append("             delivered " + delivered.joined(separator: " "))
            lines.append("chain        " + zip(chain.members, chain.counters.perNF).map { "\($0.name)=\($1)" }.joined(separator: " ")
                + "  stages " + chain.stages.map { $0.map { chain.members[$0].name }.joined(separator: "+") }.joined(separator: " > "))
            lines.append("verdicts     \(pipeline.forwarded) forwarded, \(pipeline.dropped) dropped, \(pipeline.consumed) taken by the stack; "
                + "\(chain.counters.published) events published by NFs")
        }
        if let alertsWritten { lines.append("alerts       \(alertsWritten) written (EVE)") }
        let rate = seconds > 0 ? Double(c.packets) / seconds : 0
        lines.append(String(format: "time         %.3f s, %.0f packets/s, %.3f Gbps", seconds, rate,
                            seconds > 0 ? Double(c.bytes) * 8 / seconds / 1e9 : 0))
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

/// A progress line on stderr for long files, redrawn at most twice a second.
public final class ProgressLine {
    private let totalBytes: Int
    private var lastDraw = Date()
    private var drawn = false

    public init(totalBytes: Int) { self.totalBytes = totalBytes }

    public func update(packets: UInt64, offset: Int) {
        let now = Date()
        guard now.timeIntervalSince(lastDraw) >= 0.5 else { return }
        lastDraw = now
        drawn = true
        let percent = totalBytes > 0 ? Double(offset) * 100 / Double(totalBytes) : 100
        FileHandle.standardError.write(Data(String(format: "\r%5.1f%%  %llu packets", percent, packets).utf8))
    }

    public func finish() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

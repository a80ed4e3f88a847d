import MBoxPacket
import MBoxTCPMonitor

/// One anomaly of a packet as EVE's `anomaly` record names it: `type` is `decode` or
/// `stream`, `event` Suricata's name where it has one (`decoder.ipv4.frag_overlap`,
/// `stream.reassembly_overlap_different_data`), one of the same form where it has not.
public struct AnomalyName: Equatable, Sendable {
    public var type: String
    public var event: String
}

extension DataPath {
    /// Whether the last packet showed anything wrong (checked per packet: a few loads).
    @inline(__always)
    public var lastPacketHasAnomalies: Bool {
        !anomalies.isEmpty || malformed != nil || !(tcpResult?.anomalies.isEmpty ?? true)
    }

    /// The last packet's anomalies by name (only built when there are some).
    public var lastPacketAnomalies: [AnomalyName] {
        var names: [AnomalyName] = []
        if let malformed { names.append(AnomalyName(type: "decode", event: "decoder.\(malformed)")) }
        let ip = headers.pointee.ipVersion == 6 ? "ipv6" : "ipv4"
        let decoder: [(PacketAnomalies, String)] = [
            (.fragmentOverlap, "\(ip).frag_overlap"), (.fragmentTiny, "\(ip).frag_tiny"),
            (.fragmentInvalid, "\(ip).frag_pkt_too_large"), (.fragmentDropped, "\(ip).frag_ignored"),
            (.invalidChecksum, "tcp.invalid_checksum"),
        ]
        for (flag, name) in decoder where anomalies.contains(flag) { names.append(AnomalyName(type: "decode", event: "decoder.\(name)")) }
        if let tcp = tcpResult?.anomalies {
            let stream: [(TCPAnomalies, String)] = [
                (.invalidReset, "rst_invalid"), (.outOfWindow, "est_packet_out_of_window"),
                (.synMismatch, "3whs_syn_resend_diff_seq"), (.dataAfterFIN, "data_after_fin"),
                (.overlapDifferentData, "reassembly_overlap_different_data"), (.reassemblyLimit, "reassembly_memcap"),
            ]
            for (flag, name) in stream where tcp.contains(flag) { names.append(AnomalyName(type: "stream", event: "stream.\(name)")) }
        }
        return names
    }
}

import Foundation
import MBoxAgentControl
import MBoxRuntime
import MBoxDPDK
import Prometheus
import Synchronization

/// The agent's Prometheus metrics (`run --metrics`): each worker's totals, as its runtime
/// publishes them between bursts, and each DPDK port's device counters, read at scrape
/// time. Nothing here touches the packet path.
final class AgentMetrics: Sendable {
    struct Port: Sendable {
        var id: UInt16
        var name: String
        /// What the agent counted on each of its queue pairs.
        var lanes: [LaneCounters]
    }

    private let counters: AgentCounters
    private let ports: [Port]
    private let session: ControlSession?
    private let registry = PrometheusCollectorRegistry()
    /// Each total as last exported (Prometheus counters only grow, by the difference);
    /// scrapes come from the server's event loop, one at a time or not.
    private let exported = Mutex<[String: UInt64]>([:])

    init(counters: AgentCounters, ports: [Port], session: ControlSession?) {
        self.counters = counters
        self.ports = ports
        self.session = session
    }

    /// The metrics in Prometheus' text format.
    func render() -> String {
        exported.withLock { exported in
            for worker in 0..<counters.workerCount {
                let stats = counters.snapshot(worker: worker)
                let labels = [("worker", String(worker))]
                total(&exported, "mbox_packets_total", labels, stats.packets, "Packets the worker's data path has seen.")
                total(&exported, "mbox_bytes_total", labels, stats.bytes, "Bytes of those packets.")
                total(&exported, "mbox_flows_total", labels, stats.flows, "Flows the worker has tracked.")
                total(&exported, "mbox_alerts_total", labels, stats.alerts, "Alerts the worker's chain raised.")
                total(&exported, "mbox_dropped_total", labels, stats.dropped, "Packets the worker's chain dropped by verdict.")
                total(&exported, "mbox_malformed_total", labels, stats.malformed, "Malformed packets the worker counted.")
                for (reason, count) in counters.malformed(worker: worker) {
                    total(&exported, "mbox_malformed_by_reason_total", labels + [("reason", reason.description)], count,
                          "Malformed packets the worker counted, by what was wrong with them.")
                }
            }
            for port in ports {
                let labels = [("port", port.name)]
                let agent = LaneCounters.sum(port.lanes)
                total(&exported, "mbox_port_dropped_by_verdict_total", labels, agent.droppedByVerdict, "Packets the port received that a chain dropped.")
                total(&exported, "mbox_port_tx_refused_total", labels, agent.txRefused,
                      "Packets the agent forwarded that the device would not take (lost inline).")
                total(&exported, "mbox_port_rx_multisegment_total", labels, agent.rxMultiSegment,
                      "Packets received in several segments (jumbo or coalesced frames), copied whole.")
                guard let device = DPDKPort.deviceCounters(port: port.id) else { continue }
                total(&exported, "mbox_port_rx_packets_total", labels, device.rxPackets, "Packets the port received.")
                total(&exported, "mbox_port_tx_packets_total", labels, device.txPackets, "Packets the port sent.")
                total(&exported, "mbox_port_rx_bytes_total", labels, device.rxBytes, "Bytes the port received.")
                total(&exported, "mbox_port_tx_bytes_total", labels, device.txBytes, "Bytes the port sent.")
                total(&exported, "mbox_port_rx_missed_total", labels, device.rxMissed,
                      "Packets the device dropped because the agent did not read them in time (never inspected).")
                total(&exported, "mbox_port_rx_nombuf_total", labels, device.rxNoMbuf, "Receives that failed for want of an mbuf.")
                total(&exported, "mbox_port_rx_errors_total", labels, device.rxErrors, "Erroneous packets the device received.")
                total(&exported, "mbox_port_tx_errors_total", labels, device.txErrors, "Packets the device failed to send.")
            }
            if let session {
                registry.makeGauge(descriptor: .named("mbox_controller_connected", "1 while the agent is connected to its controller."))
                    .set(to: session.isConnected ? 1.0 : 0.0)
                registry.makeGauge(descriptor: .named("mbox_config_applied_version", "Config version every worker runs."))
                    .set(to: Double(session.slot.applied))
                registry.makeGauge(descriptor: .named("mbox_spool_pending", "Alerts spooled, not yet stored by the controller."))
                    .set(to: Double(session.spool.pendingCount))
            }
            return registry.emitToString()
        }
    }

    private func total(_ exported: inout [String: UInt64], _ name: String, _ labels: [(String, String)], _ value: UInt64, _ help: String) {
        let key = name + labels.map { "\($0.0)=\($0.1)" }.joined(separator: ",")
        let previous = exported[key] ?? 0
        exported[key] = max(previous, value)
        registry.makeCounter(descriptor: .named(name, help), labels: labels).increment(by: Int64(value > previous ? value - previous : 0))
    }
}

extension MetricNameDescriptor {
    /// A metric named whole (its unit already in `name`, as `_total`).
    static func named(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}

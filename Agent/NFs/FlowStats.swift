import MBoxEvents
import MBoxNFRunner

/// Flow_Stats: per-flow packet and byte counters; publishes `EVENT/LONG_FLOW` once when a
/// flow's average packet length passes a threshold.
public final class FlowStats: NetworkFunction {
    public let averageThreshold: Int
    public let minimumPackets: Int
    public private(set) var longFlows: UInt64 = 0

    public struct Counters: Sendable {
        public var packets: UInt32 = 0
        public var bytes: UInt64 = 0
        public var long = false
    }

    private var context: NFContext!
    private var flows: UnsafeMutablePointer<Counters>!

    public init(averageThreshold: Int = 600, minimumPackets: Int = 4) {
        self.averageThreshold = averageThreshold
        self.minimumPackets = minimumPackets
    }

    deinit { flows?.deallocate() }

    public func attach(_ context: NFContext) {
        self.context = context
        flows = .allocate(capacity: context.capacity)
        flows.initialize(repeating: Counters(), count: context.capacity)
    }

    public func flowStarted(slot: Int32) { flows[Int(slot)] = Counters() }

    /// A flow's counters so far.
    public func counters(slot: Int32) -> Counters { flows[Int(slot)] }

    public func handle(_ event: Event) {
        guard event.headers != nil else { return }
        let flow = flows + Int(event.slot)
        flow.pointee.packets &+= 1
        flow.pointee.bytes &+= UInt64(event.packet.count)
        guard !flow.pointee.long, Int(flow.pointee.packets) >= minimumPackets,
              flow.pointee.bytes / UInt64(flow.pointee.packets) > UInt64(averageThreshold) else { return }
        flow.pointee.long = true
        longFlows &+= 1
        context.publish(.longFlow, about: event, detail: EventDetail(value: flow.pointee.bytes / UInt64(flow.pointee.packets)))
    }
}

// MARK: - Its kind: parameters read from the chain file, beside the NF.

extension FlowStats {
    public static let kind = NFKind(type: "Flow_Stats", action: .readOnly, publishes: ["EVENT/LONG_FLOW"],
                                  parameters: ["long_flow_average_bytes", "minimum_packets"]) { parameters, _, _ in
        let threshold = parameters.int("long_flow_average_bytes", default: 600, range: 1...65535)
        let minimum = parameters.int("minimum_packets", default: 4, range: 1...1_000_000)
        return NFPreparation { FlowStats(averageThreshold: threshold, minimumPackets: minimum) }
    }
}

import Dispatch
import MBoxCapture
import MBoxDataPath
import MBoxEvents

/// One worker's whole path, stage by stage: data path (parse → flow → μStack) → event
/// source → NF chain → verdict. Optionally records each packet's latency from arrival
/// to verdict.
public final class Pipeline {
    public let dataPath: DataPath
    public let source: EventSource
    public let chain: ChainRunner
    public private(set) var forwarded: UInt64 = 0
    public private(set) var dropped: UInt64 = 0
    /// Packets their μStack took (not forwarded, not dropped by a verdict).
    public private(set) var consumed: UInt64 = 0
    /// Per-packet latency (arrival → verdict), when enabled.
    public var latency: LatencyRecorder?

    public init(dataPath: DataPath, source: EventSource, chain: ChainRunner) {
        self.dataPath = dataPath
        self.source = source
        self.chain = chain
    }

    /// Runs one packet through every stage and returns its verdict.
    @inline(__always)
    public func process(_ packet: CapturedPacket) -> Verdict {
        let start = latency != nil ? DispatchTime.now().uptimeNanoseconds : 0
        let disposition = dataPath.process(packet)
        // A packet that completed a fragmented datagram stands for the whole datagram.
        source.collect(dataPath, packet: dataPath.reassembledPacket ?? packet, disposition: disposition)
        var verdict = chain.run(source.events)
        // The stack's part after the NFs: what they decided, carried out by the data path.
        if dataPath.runsActiveStacks || chain.decision.reject {
            dataPath.apply(&chain.decision, to: packet, disposition: disposition)
        }
        if dataPath.consumed, verdict == .forward { verdict = .consumed }
        switch verdict {
        case .drop: dropped &+= 1
        case .forward: forwarded &+= 1
        case .consumed: consumed &+= 1
        }
        if latency != nil { latency!.record(DispatchTime.now().uptimeNanoseconds - start) }
        return verdict
    }

    /// This worker with another chain, for swapping in between two packets (a pushed
    /// config): the same data path, so flows and μStack state stay; verdict counts carry
    /// over; the old chain's NFs finish and its helper threads stop. (The stages are
    /// constants of a pipeline: the per-packet path then holds them without reference
    /// counting.)
    public func replacingChain(source: EventSource, chain: ChainRunner) -> Pipeline {
        self.chain.finish()
        let next = Pipeline(dataPath: dataPath, source: source, chain: chain)
        next.forwarded = forwarded
        next.dropped = dropped
        next.consumed = consumed
        next.latency = latency
        return next
    }

    /// End of input: every flow ends (flushing streams), then every NF finishes.
    public func finish(timestamp: UInt64) {
        dataPath.finishAll()
        source.collectFinish(dataPath, timestamp: timestamp)
        _ = chain.run(source.events)
        chain.finish()
    }
}

/// Latencies in a fixed log-linear histogram (no allocation per sample): mean, and
/// percentiles within 1/16 of their value.
public struct LatencyRecorder: Sendable {
    private var buckets = [UInt64](repeating: 0, count: 64 * 16)
    public private(set) var count: UInt64 = 0
    public private(set) var total: UInt64 = 0

    public init() {}

    @inline(__always)
    public mutating func record(_ nanoseconds: UInt64) {
        count &+= 1
        total &+= nanoseconds
        buckets[Self.bucket(nanoseconds)] &+= 1
    }

    @inline(__always)
    static func bucket(_ value: UInt64) -> Int {
        if value < 16 { return Int(value) }
        let exponent = 63 - value.leadingZeroBitCount  // ≥ 4
        let mantissa = Int((value >> UInt64(exponent - 4)) & 15)
        return (exponent - 3) * 16 + mantissa
    }

    static func lowerBound(_ bucket: Int) -> UInt64 {
        if bucket < 16 { return UInt64(bucket) }
        let exponent = bucket / 16 + 3
        return (16 + UInt64(bucket % 16)) << UInt64(exponent - 4)
    }

    public var mean: Double { count == 0 ? 0 : Double(total) / Double(count) }

    /// The value below which `fraction` of the samples fall (bucket lower bound).
    public func percentile(_ fraction: Double) -> UInt64 {
        guard count > 0 else { return 0 }
        let target = UInt64((Double(count) * fraction).rounded(.up))
        var seen: UInt64 = 0
        for (index, value) in buckets.enumerated() {
            seen += value
            if seen >= target { return Self.lowerBound(index) }
        }
        return 0
    }

    public mutating func merge(_ other: LatencyRecorder) {
        for index in buckets.indices { buckets[index] &+= other.buckets[index] }
        count &+= other.count
        total &+= other.total
    }
}

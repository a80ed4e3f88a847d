import MBoxPacket
import MBoxRules

/// `threshold` and `detection_filter` state per (rule, tracked address), by capture time,
/// with Suricata's semantics:
/// - limit: alert on the first `count` matches of each window;
/// - threshold: alert on every `count`-th match within a window;
/// - both: alert once per window, when the `count`-th match arrives;
/// - detection_filter: alert on each match after the first `count` of a window.
struct ThresholdTable {
    struct Key: Hashable {
        var rule: Int32
        var first: IPAddress
        var second: IPAddress
    }

    struct Entry {
        var windowStart: UInt64
        var count: UInt32
    }

    static let capacity = 65_536
    private var entries: [Key: Entry] = [:]

    mutating func passes(_ rule: Int32, _ threshold: Threshold, _ facts: PacketFacts) -> Bool {
        let none = IPAddress(high: 0, low: 0)
        let key: Key
        switch threshold.track {
        case .bySource: key = Key(rule: rule, first: facts.source, second: none)
        case .byDestination: key = Key(rule: rule, first: facts.destination, second: none)
        case .byRule: key = Key(rule: rule, first: none, second: none)
        case .byBoth, .byFlow: key = Key(rule: rule, first: facts.source, second: facts.destination)
        }
        let window = UInt64(threshold.seconds) * 1_000_000_000
        let now = facts.timestamp
        if entries.count >= Self.capacity, entries[key] == nil {
            entries = entries.filter { now < $0.value.windowStart + window }
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
        }
        var entry = entries[key] ?? Entry(windowStart: now, count: 0)
        if now >= entry.windowStart + window, threshold.kind != .detectionFilter || entry.count > 0 {
            if now >= entry.windowStart + window { entry = Entry(windowStart: now, count: 0) }
        }
        entry.count += 1
        entries[key] = entry
        switch threshold.kind {
        case .limit: return entry.count <= threshold.count
        case .threshold:
            if entry.count >= threshold.count {
                entries[key] = Entry(windowStart: now, count: 0)
                return true
            }
            return false
        case .both: return entry.count == threshold.count
        case .detectionFilter: return entry.count > threshold.count
        }
    }
}

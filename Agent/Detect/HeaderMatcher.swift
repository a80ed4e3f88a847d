import MBoxPacket
import MBoxRules

/// A value intervals are made of: ordered, bounded, with neighbours.
protocol IntervalBound: Comparable {
    static var lowest: Self { get }
    static var highest: Self { get }
    var next: Self { get }
    var previous: Self { get }
}

extension UInt16: IntervalBound {
    static var lowest: UInt16 { 0 }
    static var highest: UInt16 { .max }
    var next: UInt16 { self &+ 1 }
    var previous: UInt16 { self &- 1 }
}

/// A 128-bit address (IPv4 mapped) as a number, for interval comparisons.
struct AddressValue: IntervalBound, Hashable {
    var high: UInt64
    var low: UInt64

    init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    init(_ address: IPAddress) {
        // IPAddress keeps network order in memory: the number is its big-endian reading.
        high = address.high.bigEndian
        low = address.low.bigEndian
    }

    static func < (a: AddressValue, b: AddressValue) -> Bool { (a.high, a.low) < (b.high, b.low) }
    static var lowest: AddressValue { AddressValue(high: 0, low: 0) }
    static var highest: AddressValue { AddressValue(high: .max, low: .max) }

    var next: AddressValue { low == .max ? AddressValue(high: high &+ 1, low: 0) : AddressValue(high: high, low: low + 1) }
    var previous: AddressValue { low == 0 ? AddressValue(high: high &- 1, low: .max) : AddressValue(high: high, low: low - 1) }
}

/// Sorted, disjoint closed intervals: what an address or port part of a rule header
/// covers, negations and lists resolved once at load.
struct IntervalSet<Value: IntervalBound> {
    var intervals: [(Value, Value)]

    static var everything: IntervalSet { IntervalSet(intervals: [(Value.lowest, Value.highest)]) }

    static func union(_ sets: [IntervalSet]) -> IntervalSet {
        let all = sets.flatMap(\.intervals).sorted { $0.0 < $1.0 }
        var merged: [(Value, Value)] = []
        for interval in all {
            if let last = merged.last, interval.0 <= last.1 || (last.1 < Value.highest && last.1.next == interval.0) {
                if interval.1 > last.1 { merged[merged.count - 1].1 = interval.1 }
            } else {
                merged.append(interval)
            }
        }
        return IntervalSet(intervals: merged)
    }

    var complement: IntervalSet {
        var result: [(Value, Value)] = []
        var start = Value.lowest
        var open = true
        for (low, high) in intervals {
            if low > start { result.append((start, low.previous)) }
            if high == Value.highest { open = false; break }
            start = high.next
        }
        if open { result.append((start, Value.highest)) }
        return IntervalSet(intervals: result)
    }

    /// A rule header list: any positive item (all when there is none), none of the negated.
    static func list(positives: [IntervalSet], negatives: [IntervalSet]) -> IntervalSet {
        var result = positives.isEmpty ? .everything : union(positives)
        // A ∖ B = complement(complement(A) ∪ B)
        for negative in negatives { result = union([result.complement, negative]).complement }
        return result
    }
}

extension IntervalSet where Value == AddressValue {
    init(_ spec: AddressSpec) {
        switch spec {
        case .any:
            self = .everything
        case let .block(block):
            let value = AddressValue(block.address)
            let bits = 128 - block.prefix
            let highMask: UInt64 = bits >= 128 ? .max : bits > 64 ? UInt64.max >> UInt64(128 - bits) : 0
            let lowMask: UInt64 = bits >= 64 ? .max : bits == 0 ? 0 : UInt64.max >> UInt64(64 - bits)
            let low = AddressValue(high: value.high & ~highMask, low: value.low & ~lowMask)
            self = IntervalSet(intervals: [(low, AddressValue(high: low.high | highMask, low: low.low | lowMask))])
        case let .not(inner):
            self = IntervalSet(inner).complement
        case let .list(items):
            self = .list(positives: items.compactMap { if case .not = $0 { nil } else { IntervalSet($0) } },
                         negatives: items.compactMap { if case let .not(inner) = $0 { IntervalSet(inner) } else { nil } })
        }
    }
}

extension IntervalSet where Value == UInt16 {
    init(_ spec: PortSpec) {
        switch spec {
        case .any:
            self = .everything
        case let .range(low, high):
            self = IntervalSet(intervals: [(low, high)])
        case let .not(inner):
            self = IntervalSet(inner).complement
        case let .list(items):
            self = .list(positives: items.compactMap { if case .not = $0 { nil } else { IntervalSet($0) } },
                         negatives: items.compactMap { if case let .not(inner) = $0 { IntervalSet(inner) } else { nil } })
        }
    }
}

/// Every rule's header (addresses and ports) as interval ranges in two flat tables, so
/// checking a packet against a rule is a binary search with nothing retained.
final class HeaderMatcher {
    struct Ranges {
        var source: (Int32, Int32)
        var sourcePorts: (Int32, Int32)
        var destination: (Int32, Int32)
        var destinationPorts: (Int32, Int32)
        var bidirectional: Bool
    }

    private let addresses: UnsafeMutableBufferPointer<(AddressValue, AddressValue)>
    private let ports: UnsafeMutableBufferPointer<(UInt16, UInt16)>
    private let ranges: UnsafeMutableBufferPointer<Ranges>

    init(_ rules: [Rule]) {
        var addressTable: [(AddressValue, AddressValue)] = []
        var portTable: [(UInt16, UInt16)] = []
        func address(_ spec: AddressSpec) -> (Int32, Int32) {
            let set = IntervalSet<AddressValue>(spec)
            let range = (Int32(addressTable.count), Int32(addressTable.count + set.intervals.count))
            addressTable += set.intervals
            return range
        }
        func port(_ spec: PortSpec) -> (Int32, Int32) {
            let set = IntervalSet<UInt16>(spec)
            let range = (Int32(portTable.count), Int32(portTable.count + set.intervals.count))
            portTable += set.intervals
            return range
        }
        let all = rules.map { rule in
            Ranges(source: address(rule.source), sourcePorts: port(rule.sourcePorts), destination: address(rule.destination),
                   destinationPorts: port(rule.destinationPorts), bidirectional: rule.bidirectional)
        }
        addresses = .allocate(capacity: max(1, addressTable.count))
        _ = addresses.initialize(from: addressTable)
        ports = .allocate(capacity: max(1, portTable.count))
        _ = ports.initialize(from: portTable)
        ranges = .allocate(capacity: max(1, all.count))
        _ = ranges.initialize(from: all)
    }

    deinit {
        addresses.deallocate()
        ports.deallocate()
        ranges.deallocate()
    }

    /// Whether a packet from `source`:`sourcePort` to `destination`:`destinationPort` fits rule `index`'s header.
    @inline(__always)
    func matches(_ index: Int, source: AddressValue, sourcePort: UInt16, destination: AddressValue,
                 destinationPort: UInt16) -> Bool {
        let rule = ranges[index]
        if contains(rule.source, source), contains(rule.sourcePorts, sourcePort), contains(rule.destination, destination),
           contains(rule.destinationPorts, destinationPort) {
            return true
        }
        return rule.bidirectional && contains(rule.source, destination) && contains(rule.sourcePorts, destinationPort)
            && contains(rule.destination, source) && contains(rule.destinationPorts, sourcePort)
    }

    @inline(__always)
    private func contains(_ range: (Int32, Int32), _ value: AddressValue) -> Bool { Self.contains(addresses, range, value) }

    @inline(__always)
    private func contains(_ range: (Int32, Int32), _ value: UInt16) -> Bool { Self.contains(ports, range, value) }

    /// Whether `value` lies in one of the sorted, disjoint intervals `table[range]`.
    @inline(__always)
    private static func contains<Value: IntervalBound>(_ table: UnsafeMutableBufferPointer<(Value, Value)>,
                                                       _ range: (Int32, Int32), _ value: Value) -> Bool {
        var low = Int(range.0), high = Int(range.1)
        while low < high {
            let middle = (low + high) / 2
            if table[middle].1 < value { low = middle + 1 } else { high = middle }
        }
        return low < Int(range.1) && !(value < table[low].0)
    }
}

/// Header-only rules indexed by address, as Suricata's IP-only engine does: each rule is
/// filed under the narrower of its source and destination sets, split into elementary
/// ranges; a packet's candidates are the rules filed under its source or destination,
/// plus those whose both sides are too wide to file (`any`).
final class AddressIndex {
    /// Elementary ranges (sorted, disjoint) and, for each, its rules in `members`.
    private var sourceRanges: [(AddressValue, AddressValue, Int32, Int32)] = []
    private var destinationRanges: [(AddressValue, AddressValue, Int32, Int32)] = []
    private var members: [Int32] = []
    /// Rules not filed: checked on every packet.
    let unindexed: [Int32]

    init(rules: [Int32], source: (Int32) -> IntervalSet<AddressValue>, destination: (Int32) -> IntervalSet<AddressValue>,
         bidirectional: (Int32) -> Bool) {
        var bySource: [(IntervalSet<AddressValue>, Int32)] = [], byDestination: [(IntervalSet<AddressValue>, Int32)] = []
        var unindexed: [Int32] = []
        for rule in rules {
            let from = source(rule), to = destination(rule)
            let fromSize = Self.size(from), toSize = Self.size(to)
            // Wider than a /8 on both sides: not worth filing.
            if min(fromSize, toSize) > 16_777_216 * 2 {
                unindexed.append(rule)
            } else if bidirectional(rule) {
                // Either side may be the packet's source: filed under both indexes by the narrow set.
                let narrow = fromSize <= toSize ? from : to
                bySource.append((narrow, rule))
                byDestination.append((narrow, rule))
            } else if fromSize <= toSize {
                bySource.append((from, rule))
            } else {
                byDestination.append((to, rule))
            }
        }
        self.unindexed = unindexed
        sourceRanges = Self.build(bySource, into: &members)
        destinationRanges = Self.build(byDestination, into: &members)
    }

    /// Addresses covered, as a Double (only compared).
    static func size(_ set: IntervalSet<AddressValue>) -> Double {
        set.intervals.reduce(0) { total, interval in
            total + (Double(interval.1.high) - Double(interval.0.high)) * 18_446_744_073_709_551_616.0
                + (Double(interval.1.low) - Double(interval.0.low)) + 1
        }
    }

    /// Splits the filed sets into elementary ranges, each listing the rules covering it.
    private static func build(_ filed: [(IntervalSet<AddressValue>, Int32)], into members: inout [Int32])
        -> [(AddressValue, AddressValue, Int32, Int32)] {
        var starts: [AddressValue] = []
        for (set, _) in filed {
            for (low, high) in set.intervals {
                starts.append(low)
                if high < AddressValue.highest { starts.append(high.next) }
            }
        }
        starts = Array(Set(starts)).sorted()
        guard !starts.isEmpty else { return [] }
        var rulesAt = Array(repeating: [Int32](), count: starts.count)
        func position(_ value: AddressValue) -> Int {
            var low = 0, high = starts.count
            while low < high {
                let middle = (low + high) / 2
                if starts[middle] < value { low = middle + 1 } else { high = middle }
            }
            return low
        }
        for (set, rule) in filed {
            for (low, high) in set.intervals {
                var index = position(low)
                while index < starts.count, !(high < starts[index]) {
                    rulesAt[index].append(rule)
                    index += 1
                }
            }
        }
        var ranges: [(AddressValue, AddressValue, Int32, Int32)] = []
        for index in starts.indices where !rulesAt[index].isEmpty {
            let end = index + 1 < starts.count ? starts[index + 1].previous : AddressValue.highest
            ranges.append((starts[index], end, Int32(members.count), Int32(members.count + rulesAt[index].count)))
            members += rulesAt[index]
        }
        return ranges
    }

    /// Calls `body` with each rule filed under `source` (as a source) or `destination`.
    @inline(__always)
    func forEachCandidate(source: AddressValue, destination: AddressValue, _ body: (Int32) -> Void) {
        sourceRanges.withUnsafeBufferPointer { Self.stab($0, source, members, body) }
        destinationRanges.withUnsafeBufferPointer { Self.stab($0, destination, members, body) }
    }

    @inline(__always)
    private static func stab(_ ranges: UnsafeBufferPointer<(AddressValue, AddressValue, Int32, Int32)>, _ value: AddressValue,
                             _ members: [Int32], _ body: (Int32) -> Void) {
        var low = 0, high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if ranges[middle].1 < value { low = middle + 1 } else { high = middle }
        }
        guard low < ranges.count, !(value < ranges[low].0) else { return }
        for index in Int(ranges[low].2)..<Int(ranges[low].3) { body(members[index]) }
    }
}

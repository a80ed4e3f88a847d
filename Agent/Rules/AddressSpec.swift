import MBoxPacket

/// A rule header's address part: `any`, blocks, lists and negations.
public indirect enum AddressSpec: Sendable, Equatable {
    case any
    case block(AddressBlock)
    case list([AddressSpec])
    case not(AddressSpec)

    public func contains(_ address: IPAddress) -> Bool {
        switch self {
        case .any: return true
        case let .block(block): return block.contains(address)
        case let .not(inner): return !inner.contains(address)
        case let .list(items):
            return listContains(items, isNegated: { if case .not = $0 { true } else { false } }, contains: { $0.contains(address) })
        }
    }
}

/// A rule header's port part: `any`, ports, ranges, lists and negations.
public indirect enum PortSpec: Sendable, Equatable {
    case any
    case range(UInt16, UInt16)
    case list([PortSpec])
    case not(PortSpec)

    public func contains(_ port: UInt16) -> Bool {
        switch self {
        case .any: return true
        case let .range(low, high): return port >= low && port <= high
        case let .not(inner): return !inner.contains(port)
        case let .list(items):
            return listContains(items, isNegated: { if case .not = $0 { true } else { false } }, contains: { $0.contains(port) })
        }
    }
}

/// A list matches when one of its positive items matches (or it has none) and none of its
/// negated items excludes the value. One pass, nothing allocated (it runs per rule check).
@inline(__always)
func listContains<Item>(_ items: [Item], isNegated: (Item) -> Bool, contains: (Item) -> Bool) -> Bool {
    var hasPositive = false, positiveMatched = false
    for item in items {
        if isNegated(item) {
            if !contains(item) { return false }  // a negated item's `contains` is already inverted
        } else {
            hasPositive = true
            if !positiveMatched, contains(item) { positiveMatched = true }
        }
    }
    return !hasPositive || positiveMatched
}

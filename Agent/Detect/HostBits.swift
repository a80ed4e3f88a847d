import MBoxPacket
import MBoxRules

/// `xbits` kept per host or host pair, with expiry by capture time. Bounded: past
/// `capacity` entries, expired ones are swept and then the oldest go.
struct HostBits {
    struct Key: Hashable {
        var first: IPAddress
        var second: IPAddress
        var bit: Int
    }

    static let capacity = 65_536
    private var expiries: [Key: UInt64] = [:]

    static func key(_ scope: BitOperation.Scope, _ facts: PacketFacts) -> (IPAddress, IPAddress) {
        let none = IPAddress(high: 0, low: 0)
        switch scope {
        case .source, .flow: return (facts.source, none)
        case .destination: return (facts.destination, none)
        case .pair:
            // A pair is the same whichever way the packet goes.
            let ordered = (facts.source.high, facts.source.low) < (facts.destination.high, facts.destination.low)
            return ordered ? (facts.source, facts.destination) : (facts.destination, facts.source)
        }
    }

    func isSet(_ bit: Int, key: (IPAddress, IPAddress), now: UInt64) -> Bool {
        guard let expiry = expiries[Key(first: key.0, second: key.1, bit: bit)] else { return false }
        return expiry == 0 || expiry > now
    }

    mutating func change(_ bit: Int, _ operation: BitOperation, key: (IPAddress, IPAddress), now: UInt64) {
        let entry = Key(first: key.0, second: key.1, bit: bit)
        let expiry = operation.expire == 0 ? 0 : now + UInt64(operation.expire) * 1_000_000_000
        switch operation.command {
        case .set:
            if expiries.count >= Self.capacity { sweep(now: now) }
            expiries[entry] = expiry
        case .unset:
            expiries[entry] = nil
        case .toggle:
            if isSet(bit, key: key, now: now) { expiries[entry] = nil } else { expiries[entry] = expiry }
        default:
            break
        }
    }

    private mutating func sweep(now: UInt64) {
        expiries = expiries.filter { $0.value == 0 || $0.value > now }
        if expiries.count >= Self.capacity { expiries.removeAll(keepingCapacity: true) }
    }
}

/// An address or a CIDR block, IPv4 held IPv4-mapped like every `IPAddress`.
public struct AddressBlock: Sendable, Equatable, CustomStringConvertible {
    public var address: IPAddress
    /// Prefix length over the 128-bit (mapped) address.
    public var prefix: Int

    public init(address: IPAddress, prefix: Int) {
        self.address = address
        self.prefix = prefix
    }

    /// `a.b.c.d`, `a.b.c.d/n`, `x::y` or `x::y/n`; nil when it is none of them.
    public init?(cidr text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard let address = IPAddress(parts[0]) else { return nil }
        let bits = address.isIPv4 ? 32 : 128
        var length = bits
        if parts.count == 2 {
            guard let given = Int(parts[1]), (0...bits).contains(given) else { return nil }
            length = given
        }
        self.init(address: address, prefix: length + (address.isIPv4 ? 96 : 0))
    }

    public var description: String { "\(address)/\(address.isIPv4 ? prefix - 96 : prefix)" }

    public func contains(_ candidate: IPAddress) -> Bool {
        let high = prefix >= 64 ? UInt64.max : (prefix == 0 ? 0 : ~(UInt64.max >> UInt64(prefix)))
        let low = prefix <= 64 ? 0 : (prefix == 128 ? UInt64.max : ~(UInt64.max >> UInt64(prefix - 64)))
        // Addresses are stored in memory order; compare in network order.
        return (candidate.high.bigEndian & high) == (address.high.bigEndian & high)
            && (candidate.low.bigEndian & low) == (address.low.bigEndian & low)
    }
}

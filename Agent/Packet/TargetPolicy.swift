/// How a receiving host's IP stack resolves overlapping data — IP fragments or TCP
/// segments that carry different bytes for the same place (Novak's target-based
/// reassembly; the policies Suricata names in `host-os-policy`). An IDS must put the data
/// back together as the target will, or an attacker shows it one payload and the target
/// another.
public enum TargetPolicy: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The bytes received first stay.
    case first
    /// The bytes received last win.
    case last
    /// A later piece wins where it starts before the piece it overlaps (BSD, macOS).
    case bsd
    /// A later piece wins where it starts before or at the start of the piece it overlaps.
    case linux
    /// A later piece wins only over a piece it starts before and ends after.
    case windows
    /// A later piece wins over a piece it starts before and ends at or after.
    case solaris

    public var description: String { rawValue }

    /// The names Suricata's `host-os-policy` uses, mapped to the policy they stand for.
    public init?(name: String) {
        switch name.lowercased() {
        case "first": self = .first
        case "last": self = .last
        case "bsd", "macos", "hpux10", "irix": self = .bsd
        case "linux", "old-linux": self = .linux
        case "windows", "windows2k3", "vista": self = .windows
        case "solaris", "old-solaris", "hpux11": self = .solaris
        default: return nil
        }
    }

    /// Whether a piece received later (`newer`) replaces the bytes of an earlier one
    /// (`older`) where they overlap; ranges are half-open positions in the same space.
    @inlinable
    public func newerWins(newer: Range<Int64>, older: Range<Int64>) -> Bool {
        switch self {
        case .first: return false
        case .last: return true
        case .bsd: return newer.lowerBound < older.lowerBound
        case .linux: return newer.lowerBound <= older.lowerBound
        case .windows: return newer.lowerBound < older.lowerBound && newer.upperBound > older.upperBound
        case .solaris: return newer.lowerBound < older.lowerBound && newer.upperBound >= older.upperBound
        }
    }
}

extension TargetPolicy {
    /// The same for overlapping TCP segments held out of order, as Suricata 7's stream
    /// engine decides it (its rules differ from its fragment ones): BSD and Windows hosts
    /// take a later segment where it starts before; Linux also where it starts at the same
    /// place and ends further; Solaris where it ends at or past the end of the earlier one,
    /// starting before or at it, or where it starts inside and ends beyond it.
    @inlinable
    public func newerSegmentWins(newer: Range<Int64>, older: Range<Int64>) -> Bool {
        switch self {
        case .first: return false
        case .last: return true
        case .bsd, .windows: return newer.lowerBound < older.lowerBound
        case .linux:
            return newer.lowerBound < older.lowerBound
                || (newer.lowerBound == older.lowerBound && newer.upperBound > older.upperBound)
        case .solaris:
            return newer.lowerBound <= older.lowerBound ? newer.upperBound >= older.upperBound : newer.upperBound > older.upperBound
        }
    }
}

/// Target policies per destination prefix (longest prefix wins), with a default — so a
/// sensor in front of Windows servers and Linux hosts reassembles for each as it will.
public struct HostPolicies: Sendable {
    public var defaultPolicy: TargetPolicy
    public private(set) var entries: [(block: AddressBlock, policy: TargetPolicy)] = []

    public init(default defaultPolicy: TargetPolicy) {
        self.defaultPolicy = defaultPolicy
    }

    public mutating func add(_ block: AddressBlock, _ policy: TargetPolicy) {
        entries.append((block, policy))
        entries.sort { $0.block.prefix > $1.block.prefix }
    }

    /// Parses `POLICY=PREFIX[,PREFIX…]` (Suricata's OS names accepted) into the table.
    public mutating func add(specification text: String) throws(HostPolicyError) {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, let policy = TargetPolicy(name: parts[0]) else {
            throw HostPolicyError("'\(text)' is not POLICY=PREFIX[,PREFIX…] with a policy of "
                + TargetPolicy.allCases.map(\.rawValue).joined(separator: ", "))
        }
        for prefix in parts[1].split(separator: ",").map({ String($0).trimmingSpaces }) {
            guard let block = AddressBlock(cidr: prefix) else { throw HostPolicyError("'\(prefix)' in '\(text)' is not an address or prefix") }
            add(block, policy)
        }
    }

    /// The policy of the host at `address`.
    @inlinable
    public func policy(for address: IPAddress) -> TargetPolicy {
        for entry in entries where entry.block.contains(address) { return entry.policy }
        return defaultPolicy
    }
}

/// A host policy specification that could not be read.
public struct HostPolicyError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension String {
    var trimmingSpaces: String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

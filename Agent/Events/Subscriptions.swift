import MBoxPacket
import MBoxTCPMonitor

/// Which stack updates a subscription wants: by whose stack changed and whose packet
/// changed it. Four combinations, one bit each.
public struct StackFilter: OptionSet, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The bit for one (side, cause) combination.
    @inlinable @inline(__always)
    public static func bit(side: FlowSide, cause: FlowSide) -> StackFilter {
        StackFilter(rawValue: 1 << (side.rawValue << 1 | cause.rawValue))
    }

    public static let all = StackFilter(rawValue: 0x0F)

    /// The combinations allowed by `side` and `cause` (nil: either).
    public static func matching(side: FlowSide?, cause: FlowSide?) -> StackFilter {
        var filter: StackFilter = []
        for s in [FlowSide.client, .server] where side == nil || side == s {
            for c in [FlowSide.client, .server] where cause == nil || cause == c {
                filter.insert(.bit(side: s, cause: c))
            }
        }
        return filter
    }
}

/// A condition on a custom event's detail (e.g. DPI_DETECT with `protocol: http`).
public enum EventCondition: Sendable, Equatable {
    /// The detected protocol; nil: DPI could not tell.
    case appProtocol(AppLayerProtocol?)

    @inlinable
    public func holds(for event: Event) -> Bool {
        switch self {
        case let .appProtocol(expected): return event.detail.appProtocol == expected
        }
    }
}

/// One NF's interest in one event type.
public struct Subscription: Sendable, Equatable {
    public var nf: Int
    public var type: EventTypeID
    public var filter: StackFilter
    public var condition: EventCondition?
    /// False for subscriptions an NF turns on per flow at run time (dynamic).
    public var initiallyActive: Bool

    public init(nf: Int, type: EventTypeID, filter: StackFilter = .all, condition: EventCondition? = nil,
                initiallyActive: Bool = true) {
        self.nf = nf
        self.type = type
        self.filter = filter
        self.condition = condition
        self.initiallyActive = initiallyActive
    }
}

/// Subscriptions compiled for delivery: for each event type and (side, cause) bit, the
/// mask of subscriptions that want it. With each flow's mask of active subscriptions,
/// whether an NF wants an event for a flow is two ANDs — O(1), no allocation.
public struct SubscriptionTable: Sendable {
    public static let maximumCount = 64
    public let subscriptions: [Subscription]
    /// `wanted[type * 16 + filterBits]`: subscriptions matching that type and combination.
    @usableFromInline let wanted: [UInt64]
    /// Subscriptions of each NF.
    public let byNF: [UInt64]
    /// Subscriptions active when a flow starts.
    public let initial: UInt64
    /// Subscriptions with a condition on the event's detail.
    public let conditional: UInt64

    public enum TableError: Error, CustomStringConvertible {
        case tooMany(Int)
        public var description: String {
            switch self {
            case let .tooMany(count): return "\(count) subscriptions in one chain; at most \(SubscriptionTable.maximumCount)"
            }
        }
    }

    public init(_ subscriptions: [Subscription], types: EventTypes, nfCount: Int) throws {
        guard subscriptions.count <= Self.maximumCount else { throw TableError.tooMany(subscriptions.count) }
        self.subscriptions = subscriptions
        var wanted = [UInt64](repeating: 0, count: types.count * 16)
        var byNF = [UInt64](repeating: 0, count: nfCount)
        var initial: UInt64 = 0, conditional: UInt64 = 0
        for (index, subscription) in subscriptions.enumerated() {
            let bit: UInt64 = 1 << UInt64(index)
            byNF[subscription.nf] |= bit
            if subscription.initiallyActive { initial |= bit }
            if subscription.condition != nil { conditional |= bit }
            for type in 0..<types.count where types.isA(EventTypeID(UInt8(type)), subscription.type) {
                for combination in 0..<16 where UInt8(combination) & subscription.filter.rawValue != 0 {
                    wanted[type * 16 + combination] |= bit
                }
            }
        }
        self.wanted = wanted
        self.byNF = byNF
        self.initial = initial
        self.conditional = conditional
    }

    /// Subscriptions that want an event of `type` with stack bit `filter`.
    @inlinable @inline(__always)
    public func wanting(_ type: EventTypeID, _ filter: StackFilter) -> UInt64 {
        wanted[Int(type.rawValue) &* 16 &+ Int(filter.rawValue)]
    }

    /// Event types some subscription wants (bit per type, subtypes included).
    public func wantedTypes(_ types: EventTypes) -> UInt64 {
        var mask: UInt64 = 0
        for type in 0..<types.count where wanted[(type * 16)..<(type * 16 + 16)].contains(where: { $0 != 0 }) {
            mask |= 1 << UInt64(type)
        }
        return mask
    }

    /// An NF's subscriptions to `type` or its subtypes (what enabling that type turns on).
    public func subscriptions(of nf: Int, to type: EventTypeID, types: EventTypes) -> UInt64 {
        var mask: UInt64 = 0
        for (index, subscription) in subscriptions.enumerated()
        where subscription.nf == nf && types.isA(subscription.type, type) {
            mask |= 1 << UInt64(index)
        }
        return mask
    }
}

/// Each flow's active subscriptions: preallocated, one word per flow slot.
public final class FlowSubscriptions {
    private let masks: UnsafeMutablePointer<UInt64>
    public let capacity: Int
    public var initial: UInt64

    public init(capacity: Int, initial: UInt64) {
        self.capacity = capacity
        self.initial = initial
        masks = .allocate(capacity: capacity)
        masks.initialize(repeating: initial, count: capacity)
    }

    deinit { masks.deallocate() }

    @inline(__always) public func reset(_ slot: Int32) { masks[Int(slot)] = initial }
    @inline(__always) public func active(_ slot: Int32) -> UInt64 { masks[Int(slot)] }
    @inline(__always) public func enable(_ slot: Int32, _ mask: UInt64) { masks[Int(slot)] |= mask }
    @inline(__always) public func disable(_ slot: Int32, _ mask: UInt64) { masks[Int(slot)] &= ~mask }
}

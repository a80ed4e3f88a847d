/// The retransmission timeout of RFC 6298, in nanoseconds: smoothed RTT and its variation
/// from samples (by timestamps or Karn's rule), exponential back-off on expiry.
public struct RetransmissionTimeout: Sendable {
    /// RFC 6298 asks for 1 s; like Linux, 200 ms (a middlebox's legs are short).
    public static let minimum: UInt64 = 200_000_000
    public static let maximum: UInt64 = 60_000_000_000
    public static let initial: UInt64 = 1_000_000_000
    /// Clock granularity G.
    static let granularity: UInt64 = 1_000_000

    public private(set) var smoothed: UInt64 = 0
    public private(set) var variation: UInt64 = 0
    private var base = RetransmissionTimeout.initial
    /// Expiries since the last new acknowledgment.
    public private(set) var backoff = 0

    public init() {}

    /// The current timeout, backed off.
    public var current: UInt64 { min(base << UInt64(min(backoff, 16)), Self.maximum) }

    /// A round-trip sample.
    public mutating func sample(_ rtt: UInt64) {
        if smoothed == 0 {
            smoothed = max(rtt, 1)
            variation = rtt / 2
        } else {
            let difference = smoothed > rtt ? smoothed - rtt : rtt - smoothed
            variation = (3 * variation + difference) / 4
            smoothed = (7 * smoothed + rtt) / 8
        }
        base = min(max(smoothed + max(Self.granularity, 4 * variation), Self.minimum), Self.maximum)
    }

    /// The timer expired: the next wait doubles.
    public mutating func expired() { backoff += 1 }

    /// New data was acknowledged: back-off ends (RFC 6298 §5.7 keeps the doubled value
    /// until a sample; a fresh sample follows every new acknowledgment here).
    public mutating func acknowledged() { backoff = 0 }
}

import Synchronization

/// One value moved from one thread to another, checked by the compiler: it goes in as
/// `sending` (nothing the sender keeps refers to it) and comes out once, as `sending`.
/// (A `Mutex` alone cannot take a value captured by its closure; built with the value, it can.)
public final class Transfer<Value>: Sendable {
    private let slot: Mutex<Value?>

    public init(_ value: consuming sending Value) { slot = Mutex(value) }

    /// The value, the first time; nil after.
    public func take() -> sending Value? { slot.withLock { $0.take() } }
}

import Atomics
import Foundation
import MBoxChain
import MBoxProto

/// A config handed from the control session to the data path. The session posts a
/// compiled chain; the data path checks one atomic per burst, takes it between two
/// packets and reports the outcome, which the session then tells the controller.
public final class ConfigSlot: @unchecked Sendable {
    /// A config ready to run: the chain compiled off the data path (nil: no chain).
    public struct Update: @unchecked Sendable {
        public var version: UInt64
        public var chain: CompiledChain?
        public var spec: Mbox_V1_ChainSpec?
    }

    private let lock = NSLock()
    private var posted: Update?
    private let postedVersion = ManagedAtomic<UInt64>(0)
    /// The data path's report on the last update it took: version and refusal (nil: applied).
    private var outcome: (version: UInt64, error: String?)?
    private let appliedVersion = ManagedAtomic<UInt64>(0)

    public init() {}

    // MARK: Control session side

    public func post(_ update: Update) {
        lock.lock()
        posted = update
        outcome = nil
        lock.unlock()
        postedVersion.store(update.version &+ 1, ordering: .releasing)
    }

    /// Waits until the data path took `version`: nil when applied, else why not.
    /// Gives up after `timeout` (the data path is stuck or stopped).
    public func outcome(of version: UInt64, timeout: Duration = .seconds(30)) async -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, !Task.isCancelled {
            if let result = recordedOutcome(version) { return result }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return Task.isCancelled ? "the session ended before the data path took version \(version)"
                                : "the data path did not take version \(version) within \(timeout)"
    }

    private func recordedOutcome(_ version: UInt64) -> String?? {
        lock.lock()
        defer { lock.unlock() }
        guard let outcome, outcome.version == version else { return nil }
        return .some(outcome.error)
    }

    /// The version the data path runs now (0: none yet).
    public var applied: UInt64 { appliedVersion.load(ordering: .acquiring) }

    // MARK: Data path side

    /// A posted update not yet taken, checked with one relaxed load in the common case.
    @inline(__always)
    public func take() -> Update? {
        guard postedVersion.load(ordering: .relaxed) != 0 else { return nil }
        lock.lock()
        defer { lock.unlock() }
        postedVersion.store(0, ordering: .relaxed)
        let update = posted
        posted = nil
        return update
    }

    /// The data path's report on an update it took: `error` nil when it runs now.
    public func report(_ version: UInt64, error: String?) {
        lock.lock()
        outcome = (version, error)
        lock.unlock()
        if error == nil { appliedVersion.store(version, ordering: .releasing) }
    }
}

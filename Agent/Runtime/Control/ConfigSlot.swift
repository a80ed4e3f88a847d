import Atomics
import Foundation
import MBoxChain
import MBoxConcurrency
import Synchronization

/// A config handed from the control session to the data paths (one per worker). The
/// session posts a compiled chain; readers that can prepare have their stages (NF
/// instances, runner, helpers) built then, on the session's thread; each data path checks
/// one atomic per burst, takes the update between two packets — swapping in the prepared
/// stages — and reports the outcome; once every data path has, the session tells the
/// controller.
public final class ConfigSlot: Sendable {
    /// A config ready to run: the chain compiled off the data path (nil: no chain).
    public struct Update: Sendable {
        public var version: UInt64
        public var chain: CompiledChain?
        /// The chain's name as the controller calls it (alerts carry it); "" without a chain.
        public var chainName: String

        public init(version: UInt64, chain: CompiledChain?, chainName: String) {
            self.version = version
            self.chain = chain
            self.chainName = chainName
        }
    }

    /// How many data paths take each update (each through a `Reader` of its own).
    public let readers: Int
    /// What the session and the data paths share, behind one lock (never taken per packet).
    private struct Shared {
        var latest: Update?
        /// Reports on the latest update so far: how many data paths, and the first refusal.
        var reports: (version: UInt64, count: Int, error: String?)?
        /// The outcome of the last update every data path reported on (error nil: applied).
        var outcome: (version: UInt64, error: String?)?
        /// Readers that build their stages when an update is posted.
        var preparing: [Reader] = []
    }
    private let shared = Mutex(Shared())
    /// Bumped, under the lock, by every post; readers compare it with the last they took.
    private let generation = ManagedAtomic<UInt64>(0)
    private let appliedVersion = ManagedAtomic<UInt64>(0)

    public init(readers: Int = 1) {
        precondition(readers > 0)
        self.readers = readers
    }

    // MARK: Control session side

    public func post(_ update: Update) {
        // Each data path's stages are built here, before any of them can take the update.
        for reader in shared.withLock({ $0.preparing }) { reader.prepare(update) }
        shared.withLock {
            $0.latest = update
            $0.reports = (update.version, 0, nil)
            $0.outcome = nil
            generation.wrappingIncrement(ordering: .releasing)
        }
    }

    /// Waits until every data path took `version`: nil when applied, else why not.
    /// Gives up after `timeout` (a data path is stuck or stopped).
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
        shared.withLock {
            guard let outcome = $0.outcome, outcome.version == version else { return nil }
            return .some(outcome.error)
        }
    }

    /// The version every data path runs now (0: none yet).
    public var applied: UInt64 { appliedVersion.load(ordering: .acquiring) }

    // MARK: Data path side

    /// One data path's side of the slot; make one per data path (`readers` in all).
    /// `prepare` builds that data path's stages for a posted chain, off its thread; without
    /// it the data path builds them itself when it takes the update.
    public func makeReader(prepare: (@Sendable (CompiledChain) throws -> sending PreparedStages)? = nil) -> Reader {
        let reader = Reader(self, prepare: prepare)
        if prepare != nil { shared.withLock { $0.preparing.append(reader) } }
        return reader
    }

    /// What one data path uses: `take()` per burst, `report(_:error:)` per update taken.
    public final class Reader: Sendable {
        private let slot: ConfigSlot
        /// The generation this data path took last (written by its thread only).
        private let taken = ManagedAtomic<UInt64>(0)
        private let preparer: (@Sendable (CompiledChain) throws -> sending PreparedStages)?
        /// Stages built for a posted version.
        private let staged = Mutex<(version: UInt64, stages: Transfer<Result<PreparedStages, any Error>>)?>(nil)

        init(_ slot: ConfigSlot, prepare: (@Sendable (CompiledChain) throws -> sending PreparedStages)?) {
            self.slot = slot
            preparer = prepare
        }

        func prepare(_ update: Update) {
            guard let preparer, let chain = update.chain else { return }
            let stages: Transfer<Result<PreparedStages, any Error>>
            do { stages = Transfer(.success(try preparer(chain))) } catch { stages = Transfer(.failure(error)) }
            staged.withLock { $0 = (update.version, stages) }
        }

        /// The stages built for `version` when it was posted (nil: none were; build them).
        public func preparedStages(for version: UInt64) -> sending Result<PreparedStages, any Error>? {
            let stages = staged.withLock { staged -> Transfer<Result<PreparedStages, any Error>>? in
                guard let current = staged.take(), current.version == version else { return nil }
                return current.stages
            }
            return stages?.take()
        }

        /// The latest update if this data path has not taken it yet; one relaxed load in
        /// the common case.
        @inline(__always)
        public func take() -> Update? {
            guard slot.generation.load(ordering: .relaxed) != taken.load(ordering: .relaxed) else { return nil }
            return slot.shared.withLock {
                taken.store(slot.generation.load(ordering: .relaxed), ordering: .relaxed)
                return $0.latest
            }
        }

        /// This data path's report on an update it took: `error` nil when it runs now.
        public func report(_ version: UInt64, error: String?) { slot.record(version, error: error) }
    }

    private func record(_ version: UInt64, error: String?) {
        shared.withLock {
            // A report on an update already replaced by a newer one no longer counts.
            guard var current = $0.reports, current.version == version else { return }
            current.count += 1
            if current.error == nil { current.error = error }
            $0.reports = current
            guard current.count == readers else { return }
            $0.outcome = (version, current.error)
            if current.error == nil { appliedVersion.store(version, ordering: .releasing) }
        }
    }
}

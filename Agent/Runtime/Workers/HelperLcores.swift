import Foundation
import Synchronization
import MBoxDPDK
import MBoxNFRunner

/// EAL worker lcores the workers left free, handed to the chains' helpers (the NFs of a
/// parallel stage, offloaded NFs): each helper runs pinned on a core of its own while
/// one is free, on a thread otherwise. Helpers start on the main lcore's thread (EAL
/// launches work only from there): when a chain is built, or swapped in between bursts.
public final class HelperLcores: Sendable {
    private let free: Mutex<[UInt32]>
    private let placed = Mutex<[String]>([])

    public init(free: [UInt32]) { self.free = Mutex(free) }

    /// Where each helper started so far ("mbox-nf-helper on EAL lcore 1").
    public var placements: [String] { placed.withLock { $0 } }

    public var launcher: HelperLauncher {
        HelperLauncher { [self] name, body in
            // EAL launches work from the main lcore only; a worker on another lcore that
            // adopts a pushed chain starts its helpers on threads.
            if Lcores.onMain, let lcore = take() {
                Lcores.wait(lcore)  // done with its previous helper
                do {
                    try Lcores.launch(lcore) {
                        body()
                        self.giveBack(lcore)
                    }
                    record("\(name) on EAL lcore \(lcore)")
                    return
                } catch {
                    giveBack(lcore)
                }
            }
            record(Lcores.onMain ? "\(name) on a thread (no free EAL lcore; --lcores with more entries gives one)"
                                 : "\(name) on a thread (started off the main lcore)")
            HelperLauncher.threads.start(name, body)
        }
    }

    /// One line per helper for the run's report, or nothing without helpers.
    public var report: String {
        placements.map { "helper       \($0)\n" }.joined()
    }

    private func take() -> UInt32? { free.withLock { $0.isEmpty ? nil : $0.removeFirst() } }
    private func giveBack(_ lcore: UInt32) { free.withLock { $0.append(lcore) } }
    private func record(_ placement: String) { placed.withLock { $0.append(placement) } }
}

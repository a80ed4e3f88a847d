import MBoxEvents

/// A helper thread that runs one NF's handler for one event at a time, for a parallel
/// stage that forks and joins per event: the caller writes the event and posts a
/// sequence number (release); the helper runs the NF and marks the same number done.
///
/// `@unchecked Sendable`: the event slot is written before the post (release) and read by the
/// helper after it (acquire); the caller reads results only after `done` (acquire).
final class ParallelHelper: @unchecked Sendable {
    private let functions: [any NetworkFunction]
    private let event: UnsafeMutablePointer<Event>
    private var nf = 0
    private var sequence = 0
    private var handOff: HandOff!

    init(functions: [any NetworkFunction], launcher: HelperLauncher) {
        self.functions = functions
        event = .allocate(capacity: 1)
        event.initialize(to: Event(type: .packet, side: .client, cause: .client, slot: 0, flowID: 0, timestamp: 0))
        handOff = HandOff(name: "mbox-nf-helper", launcher: launcher) { [unowned self] handOff in self.loop(handOff) }
    }

    deinit {
        handOff.stop()
        event.deallocate()
    }

    /// Hands `event` to the helper to run NF `nf` on it.
    @inline(__always)
    func post(_ event: Event, to nf: Int) {
        self.event.pointee = event
        self.nf = nf
        sequence &+= 1
        handOff.posted.store(sequence, ordering: .releasing)
    }

    /// Waits until the helper finished the last posted event.
    @inline(__always)
    func wait() { handOff.waitUntilDone(sequence) }

    func stop() { handOff.stop() }

    private func loop(_ handOff: HandOff) {
        var handled = 0
        var idle = 0
        while !handOff.isStopping {
            let next = handOff.posted.load(ordering: .acquiring)
            if next == handled {
                HandOff.idle(&idle)
                continue
            }
            functions[nf].handle(event.pointee)
            handled = next
            handOff.done.store(next, ordering: .releasing)
            idle = 0
        }
    }
}

import Dispatch
import Foundation
import Synchronization

/// Runs `action` once on the first SIGINT or SIGTERM.
public final class SignalStop: Sendable {
    /// Kept alive here, never touched after `init` (a mutex makes that checked, not promised).
    private let sources: Mutex<[any DispatchSourceSignal]>

    public init(_ action: @escaping @Sendable () -> Void) {
        var sources: [any DispatchSourceSignal] = []
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: action)
            source.resume()
            sources.append(source)
        }
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        self.sources = Mutex(sources)
    }
}

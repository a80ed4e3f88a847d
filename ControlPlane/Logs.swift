import Foundation
import Logging

/// Logging for the control-plane programs (swift-log): lines on stderr with time, level
/// and source (`mbox.controller`, `mbox.audit`, `mbox.agent.control`), which journald
/// and container runtimes collect. `MBOX_LOG_LEVEL` (trace … critical; info by default)
/// sets the level.
public enum MBoxLogging {
    private static let bootstrapped: Bool = {
        let level = ProcessInfo.processInfo.environment["MBOX_LOG_LEVEL"].flatMap(Logging.Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return true
    }()

    /// Sets up the log handler once per process (later calls do nothing).
    public static func bootstrap() { _ = bootstrapped }

    /// A logger for `label`, the handler set up first.
    public static func logger(_ label: String) -> Logging.Logger {
        bootstrap()
        return Logging.Logger(label: label)
    }
}

import Foundation

/// Where a chain starts its helper threads (the NFs of a parallel stage, offloaded NFs):
/// plain threads by default; the agent on DPDK hands out free EAL worker lcores, so
/// parallel NFs run pinned, on cores of their own.
public struct HelperLauncher: Sendable {
    /// Starts `body` (which returns when its helper stops) under `name`.
    public let start: @Sendable (_ name: String, _ body: @escaping @Sendable () -> Void) -> Void

    public init(start: @escaping @Sendable (_ name: String, _ body: @escaping @Sendable () -> Void) -> Void) {
        self.start = start
    }

    /// Each helper on a thread of its own.
    public static let threads = HelperLauncher { name, body in
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }
}

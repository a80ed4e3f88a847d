import CDPDK
import Foundation

/// The text in a NUL-terminated C buffer the shim filled.
func text(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Why DPDK could not do what was asked; the message says what to change.
public struct DPDKError: Error, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// DPDK's Environment Abstraction Layer, started once per process (rte_eal_init cannot
/// run twice, even after cleanup).
public enum EAL {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var arguments: [String]?

    /// Whether this agent was built with DPDK.
    public static var isAvailable: Bool { mbox_dpdk_available() == 1 }

    /// Starts EAL with `arguments` (without the program name), or checks that it already
    /// runs with the same ones.
    public static func start(_ arguments: [String]) throws {
        lock.lock()
        defer { lock.unlock() }
        if let running = self.arguments {
            guard running == arguments else {
                throw DPDKError("EAL already runs with \(running.joined(separator: " ")); it starts once per process")
            }
            return
        }
        guard isAvailable else { throw DPDKError("this agent was built without DPDK (install libdpdk-dev and rebuild)") }
        let owned = (["mbox-agent"] + arguments).map { strdup($0) }
        // EAL rewrites argv's entries (it puts the program name where its options ended),
        // so free what was allocated, not what argv holds afterwards.
        defer { owned.forEach { free($0) } }
        var argv = owned
        var error = [CChar](repeating: 0, count: 256)
        let status = argv.withUnsafeMutableBufferPointer { buffer in
            mbox_eal_init(Int32(buffer.count), buffer.baseAddress, &error, error.count)
        }
        guard status == 0 else {
            throw DPDKError(text(error) + hint(arguments))
        }
        self.arguments = arguments
    }

    /// A hint for the usual mistake on machines without hugepages.
    private static func hint(_ arguments: [String]) -> String {
        arguments.contains("--no-huge") ? "" : " (no hugepages here? add --no-huge -m 512)"
    }
}

/// EAL's worker lcores: threads EAL made and pinned as `-l`/`--lcores` asked, each with its
/// own mempool cache (mbufs freed and allocated there skip the pool's shared ring).
public enum Lcores {
    /// The worker lcores' ids (the main lcore, the calling thread, is not among them).
    public static func workers() -> [UInt32] {
        var ids = [UInt32](repeating: 0, count: 128)
        let count = Int(mbox_worker_lcores(&ids, UInt32(ids.count)))
        return Array(ids.prefix(min(count, ids.count)))
    }

    /// Runs `body` on worker lcore `lcore`; `wait(_:)` joins it.
    public static func launch(_ lcore: UInt32, _ body: @escaping @Sendable () -> Void) throws {
        let box = Unmanaged.passRetained(Body(body)).toOpaque()
        let status = mbox_lcore_launch(lcore, { pointer in
            let body = Unmanaged<Body>.fromOpaque(pointer!).takeRetainedValue()
            body.run()
        }, box)
        guard status == 0 else {
            Unmanaged<Body>.fromOpaque(box).release()
            throw DPDKError("cannot launch work on lcore \(lcore) (error \(status); is it busy?)")
        }
    }

    public static func wait(_ lcore: UInt32) { _ = mbox_lcore_wait(lcore) }

    /// Whether the calling thread is EAL's main lcore: `launch` and `wait` only work from there.
    public static var onMain: Bool { mbox_on_main_lcore() != 0 }

    private final class Body: Sendable {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }
}

import Foundation

/// The process heap: glibc keeps freed pages resident unless asked to return them, and
/// the controller's bursts (thousands of handshakes, compiling a large rule set) free a lot.
enum Heap {
    /// Returns free heap pages to the system (glibc's `malloc_trim`, which Swift's Glibc
    /// module does not export; a no-op where it is absent).
    static func returnFreePages() {
        _ = mallocTrim?(0)
    }

    private static let mallocTrim: (@convention(c) (Int) -> Int32)? = {
        guard let symbol = dlsym(nil, "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)
    }()
}

import Foundation

/// Opens an output path the user named, in place: created when missing, truncated when a
/// regular file, written as it is when a device, FIFO or symlink (`/dev/stdout`,
/// `/dev/null`, a pipe) — never replaced by a new file renamed over it.
public enum OutputFile {
    public struct Failure: Error, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }

    public static func open(_ path: String) throws -> FileHandle {
        var status = stat()
        // Truncate only regular files; O_TRUNC on a device or FIFO is meaningless at best.
        let isRegular = stat(path, &status) != 0 || (status.st_mode & S_IFMT) == S_IFREG
        if stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
            throw Failure(path: path, reason: "it is a directory")
        }
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (isRegular ? O_TRUNC : 0)
        let descriptor = Glibc.open(path, flags, 0o644)
        guard descriptor >= 0 else { throw Failure(path: path, reason: String(cString: strerror(errno))) }
        return FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    }
}

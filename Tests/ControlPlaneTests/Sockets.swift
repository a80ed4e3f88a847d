#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Foundation

/// Raw TCP connections that never speak: what a stranger needs no certificate to open.
final class IdleConnections {
    private(set) var descriptors: [Int32] = []

    /// Opens `count` connections to 127.0.0.1:`port`, from `sources` loopback addresses
    /// (127.0.x.y) in turn, without waiting for them to be accepted.
    init(port: Int, count: Int, sources: Int = 1) {
        IdleConnections.raiseDescriptorLimit()
        for index in 0..<count {
            // Close-on-exec: programs the tests start must not inherit thousands of sockets.
            let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard descriptor >= 0 else { break }
            _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            if sources > 1 {
                let source = index % sources
                var local = sockaddr_in()
                local.sin_family = sa_family_t(AF_INET)
                local.sin_addr.s_addr = (UInt32(127) << 24 | UInt32(1 + source / 250) << 8 | UInt32(2 + source % 250)).bigEndian
                _ = withUnsafePointer(to: &local) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            }
            var remote = sockaddr_in()
            remote.sin_family = sa_family_t(AF_INET)
            remote.sin_port = UInt16(port).bigEndian
            remote.sin_addr.s_addr = (UInt32(127) << 24 | 1).bigEndian
            _ = withUnsafePointer(to: &remote) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            descriptors.append(descriptor)
        }
    }

    /// Sends on each connection the first five bytes of a TLS record (a handshake record
    /// announcing 512 bytes) and nothing more: a client that starts TLS and stalls. (A
    /// connection that sends nothing at all may never leave the kernel when SYN cookies are
    /// in use; one that sends a byte is always accepted.) Returns how many got it out.
    @discardableResult
    func sendStalledHello(seconds: Double = 30) -> Int {
        let header: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00]
        var waiting = Set(descriptors)
        var sent = 0
        let deadline = Date().addingTimeInterval(seconds)
        while !waiting.isEmpty, Date() < deadline {
            var polls = waiting.prefix(4096).map { pollfd(fd: $0, events: Int16(POLLOUT), revents: 0) }
            _ = poll(&polls, nfds_t(polls.count), 100)
            for entry in polls where entry.revents != 0 {
                waiting.remove(entry.fd)
                if entry.revents & Int16(POLLOUT) != 0, send(entry.fd, header, header.count, Int32(MSG_NOSIGNAL)) == header.count { sent += 1 }
            }
        }
        return sent
    }

    /// How many the far end has closed (a read finds the end of the stream or a reset).
    func closedByPeer() -> Int {
        var buffer = [UInt8](repeating: 0, count: 64)
        return descriptors.filter { descriptor in
            let read = recv(descriptor, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            return read == 0 || (read < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        }.count
    }

    func close() {
        for descriptor in descriptors { Glibc.close(descriptor) }
        descriptors.removeAll()
    }

    deinit { close() }

    static func raiseDescriptorLimit() {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        limit.rlim_cur = limit.rlim_max
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    }
}

/// A process's resident memory in bytes and its open descriptors (from /proc).
func processFootprint(_ pid: Int32) -> (residentBytes: Int, descriptors: Int) {
    let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
    let kilobytes = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }?
        .split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
    let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    return (kilobytes * 1024, descriptors)
}

/// A metric's value in a Prometheus text page (0 when absent).
func metricValue(_ page: String, _ name: String) -> Double {
    page.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") } ?? 0
}

/// The body of http://127.0.0.1:`port`/metrics.
func scrapeMetrics(port: Int) async throws -> String {
    let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
    return String(decoding: data, as: UTF8.self)
}

import MBoxAppLayer
import MBoxEvents
import MBoxNFRunner

/// An HTTP object cache on the TCP Split Proxy. A request (`FLOW_REQ`: a connection's
/// first request) for an object it holds is answered by the agent itself — the TCP
/// Endpoint: no connection to the origin is made, the client gets the object with
/// `X-Cache: HIT` and `Connection: close`. A miss goes to the backend other NFs pick,
/// and the origin's response fills the cache as it passes (`BYTESTREAM` from the server):
/// `GET`, status 200, a `Content-Length` body of at most `maximumObject` bytes, no
/// `Cache-Control: no-store`/`private`. Bounded: `capacity` bytes in all, oldest out first;
/// responses being collected count against it too.
public final class HTTPCache: NetworkFunction {
    public let maximumObject: Int
    public let capacity: Int
    public private(set) var hits: UInt64 = 0
    public private(set) var misses: UInt64 = 0
    public private(set) var stored: UInt64 = 0
    public private(set) var evicted: UInt64 = 0
    /// Key ("host path") → the response a hit sends.
    private var objects: [String: [UInt8]] = [:]
    private var order: [String] = []
    private var storedBytes = 0
    private var collectingBytes = 0
    private var context: NFContext!
    /// Per flow slot: the miss whose response is being collected, and its bytes so far.
    private var pendingKey: [String?] = []
    private var collected: [[UInt8]] = []

    public init(maximumObject: Int, capacity: Int) {
        self.maximumObject = maximumObject
        self.capacity = capacity
    }

    public func attach(_ context: NFContext) {
        self.context = context
        pendingKey = Array(repeating: nil, count: context.capacity)
        collected = Array(repeating: [], count: context.capacity)
    }

    public func flowStarted(slot: Int32) { abandon(Int(slot)) }
    public func flowEnded(slot: Int32) { abandon(Int(slot)) }

    public func handle(_ event: Event) {
        if event.type == .flowRequest {
            request(event)
        } else if event.type == .byteStream, event.cause == .server, pendingKey[Int(event.slot)] != nil {
            collect(event)
        }
    }

    /// The object's key when `bytes` hold a whole cacheable request head.
    static func key(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let end = HeaderLines.blockEnd(bytes) else { return nil }
        let lines = HeaderLines(bytes, 0..<end)
        let parts = lines.startLine.split(separator: 0x20)
        guard parts.count == 3, parts[0].elementsEqual("GET".utf8) else { return nil }
        var host = ""
        for header in lines.headers {
            let name = header.lowercasedName(bytes)
            let value = String(decoding: bytes[header.valueStart..<header.valueEnd], as: UTF8.self).lowercased()
            if name == "host" { host = value }
            if name == "cache-control", value.contains("no-cache") || value.contains("no-store") { return nil }
            if name == "authorization" { return nil }
        }
        return host + " " + String(decoding: parts[1], as: UTF8.self)
    }

    private func request(_ event: Event) {
        let slot = Int(event.slot)
        guard let data = event.data, let key = Self.key(UnsafeRawBufferPointer(start: data, count: event.dataLength)) else { return }
        if let object = objects[key] {
            hits &+= 1
            context.respond(to: event, with: object, close: true)
            return
        }
        misses &+= 1
        guard event.detail.value == 0 else { return }  // asked again after a refusal: already pending
        abandon(slot)
        pendingKey[slot] = key
    }

    private func collect(_ event: Event) {
        let slot = Int(event.slot)
        guard let data = event.data else { return abandon(slot) }
        let bytes = UnsafeRawBufferPointer(start: data, count: event.dataLength)
        // Chunks may come again (an NF held bytes back): take only what is new.
        let have = UInt64(collected[slot].count)
        guard event.dataOffset <= have else { return abandon(slot) }
        let skip = Int(have - event.dataOffset)
        guard skip < bytes.count else { return }
        let fresh = bytes.count - skip
        guard collectingBytes + fresh <= capacity, collected[slot].count + fresh <= maximumObject + 16 * 1024 else {
            return abandon(slot)
        }
        collected[slot].append(contentsOf: bytes[skip...])
        collectingBytes += fresh
        collected[slot].withUnsafeBytes { response in
            guard let end = HeaderLines.blockEnd(response) else {
                if response.count > HTTPRewriter.headerLimit { abandon(slot) }
                return
            }
            let head = 0..<end
            let lines = HeaderLines(response, head)
            guard lines.status == 200, !lines.isChunked, let length = lines.contentLength, length <= UInt64(maximumObject),
                  !lines.headers.contains(where: { $0.lowercasedName(response) == "cache-control" && Self.forbidsStoring(response, $0) })
            else { return abandon(slot) }
            guard response.count >= head.upperBound + Int(length) else { return }
            store(key: pendingKey[slot]!, response, lines: lines, head: head, length: Int(length))
            abandon(slot)
        }
    }

    static func forbidsStoring(_ bytes: UnsafeRawBufferPointer, _ header: HeaderLines.Header) -> Bool {
        let value = String(decoding: bytes[header.valueStart..<header.valueEnd], as: UTF8.self).lowercased()
        return value.contains("no-store") || value.contains("private")
    }

    /// Keeps the response as a hit will send it: the origin's status line and headers but
    /// the connection-level ones, then `X-Cache` and `Connection: close`, then the body.
    private func store(key: String, _ response: UnsafeRawBufferPointer, lines: HeaderLines, head: Range<Int>, length: Int) {
        var object: [UInt8] = []
        object.reserveCapacity(head.count + length + 64)
        object.append(contentsOf: lines.startLine)
        object.append(contentsOf: [13, 10])
        let connectionHeaders: Set<String> = ["connection", "keep-alive", "transfer-encoding", "proxy-connection"]
        for header in lines.headers where !connectionHeaders.contains(header.lowercasedName(response)) {
            object.append(contentsOf: response[header.line])
        }
        object.append(contentsOf: Array("X-Cache: HIT\r\nConnection: close\r\n\r\n".utf8))
        object.append(contentsOf: response[head.upperBound..<(head.upperBound + length)])
        guard object.count <= capacity else { return }
        if let old = objects[key] {
            storedBytes -= old.count
            order.removeAll { $0 == key }
        }
        while storedBytes + object.count > capacity, !order.isEmpty {
            let oldest = order.removeFirst()
            storedBytes -= objects.removeValue(forKey: oldest)?.count ?? 0
            evicted &+= 1
        }
        objects[key] = object
        order.append(key)
        storedBytes += object.count
        stored &+= 1
    }

    private func abandon(_ slot: Int) {
        collectingBytes -= collected[slot].count
        collected[slot] = []
        pendingKey[slot] = nil
    }
}

// MARK: - Its kind: parameters read from the chain file, beside the NF.

extension HTTPCache {
    /// The HTTP cache: answers hits itself on the TCP Split Proxy (the TCP Endpoint).
    public static let kind = NFKind(type: "HTTP_Cache", action: .readOnly, publishes: [],
                                  parameters: ["max_object", "capacity"]) { parameters, _, _ in
        let maximum = parameters.int("max_object", default: 1 << 20, range: 1...(64 << 20))
        let capacity = parameters.int("capacity", default: 64 << 20, range: 1...(4 << 30))
        if capacity < maximum { parameters.error(nil, "HTTP_Cache 'capacity' must hold at least one object of 'max_object' bytes") }
        return NFPreparation { HTTPCache(maximumObject: maximum, capacity: capacity) }
    }
}

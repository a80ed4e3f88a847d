import MBoxEvents
import MBoxNFRunner
import MBoxPacket
import MBoxTCPMonitor

/// DPI: tells a flow's application protocol (HTTP, TLS with SNI, SSH, DNS, SMTP) from
/// its first payloads, publishes `EVENT/DPI_DETECT` once, and unsubscribes itself from
/// the flow — what is decided costs nothing more.
///
/// On reassembled streams (`DATA_RDY`) it classifies the stream's first bytes, however
/// finely they were segmented, and hands them over in the `DPI_DETECT` event (`data`,
/// from offset 0), so an NF that subscribes on detection still sees the stream whole.
public final class DPI: NetworkFunction {
    /// Payload-carrying events inspected per flow before giving up (publishing `unknown`).
    public let maximumInspections: Int
    /// Stream bytes kept per flow direction while undecided.
    public static let prefixLimit = 1024
    public private(set) var detected = [UInt64](repeating: 0, count: AppProtocol.allCases.count)

    private var context: NFContext!
    private var inspections: UnsafeMutablePointer<UInt8>!
    private var serverNames: [Int32: String] = [:]
    /// Stream prefixes by slot × 2 + direction of flows still undecided after their first
    /// chunk (empty otherwise), kept until the flow ends (a published `DPI_DETECT` may point
    /// into them). Indexed storage, not a dictionary: removing an entry there at every
    /// flow's end cost hundreds of instructions.
    private var prefixes: UnsafeMutablePointer<[UInt8]>!

    public init(maximumInspections: Int = 8) {
        self.maximumInspections = maximumInspections
    }

    deinit {
        guard let inspections else { return }
        inspections.deallocate()
        // Empty arrays hold nothing to release: only the others are deinitialised.
        for key in 0..<(2 * context.capacity) where !prefixes[key].isEmpty { (prefixes + key).deinitialize(count: 1) }
        prefixes.deallocate()
    }

    public func attach(_ context: NFContext) {
        self.context = context
        inspections = .allocate(capacity: context.capacity)
        inspections.initialize(repeating: 0, count: context.capacity)
        prefixes = .allocate(capacity: 2 * context.capacity)
        prefixes.initialize(repeating: [], count: 2 * context.capacity)
    }

    public func flowStarted(slot: Int32) {
        inspections[Int(slot)] = 0
        if !serverNames.isEmpty { serverNames[slot] = nil }
    }

    public func flowEnded(slot: Int32) {
        for key in (Int(slot) * 2)...(Int(slot) * 2 + 1) where !prefixes[key].isEmpty { prefixes[key] = [] }
    }

    /// The TLS server name (SNI) seen in the flow's ClientHello, if any.
    public func serverName(slot: Int32) -> String? { serverNames[slot] }

    public func handle(_ event: Event) {
        guard Int(inspections[Int(event.slot)]) < maximumInspections else { return }
        if event.type == .dataReady {
            guard event.data != nil else { return }
            let key = Int(event.slot) * 2 + (event.direction == .toServer ? 0 : 1)
            if event.dataOffset == 0, prefixes[key].isEmpty {
                // The stream's first chunk: usually enough, and it is the stream from offset 0.
                inspect(event, event.stream, handOver: true)
                if Int(inspections[Int(event.slot)]) < maximumInspections {
                    prefixes[key] = Array(event.stream.prefix(Self.prefixLimit))
                }
                return
            }
            guard !prefixes[key].isEmpty else {
                inspect(event, event.stream, handOver: false)
                return
            }
            let kept = prefixes[key].count
            if UInt64(kept) == event.dataOffset, kept < Self.prefixLimit {
                prefixes[key] += event.stream.prefix(Self.prefixLimit - kept)
            }
            // A reference of its own while inspecting (what is published may come back here).
            let prefix = prefixes[key]
            let complete = UInt64(prefix.count) >= event.dataOffset + UInt64(event.dataLength)
            prefix.withUnsafeBytes { inspect(event, $0, handOver: complete) }
        } else {
            inspect(event, event.payload, handOver: false)
        }
    }

    /// Classifies `bytes` (the packet's payload, or the stream so far); `handOver` says
    /// they are the stream from offset 0 up to the end of the event's data.
    private func inspect(_ event: Event, _ bytes: UnsafeRawBufferPointer, handOver: Bool) {
        guard !bytes.isEmpty else { return }
        inspections[Int(event.slot)] += 1
        let isUDP = event.headers?.pointee.isUDP ?? false
        var found = Self.classify(bytes, fromClient: event.cause == .client, isUDP: isUDP)
        if found == .tls, event.cause == .client, let name = Self.serverName(inClientHello: bytes) {
            serverNames[event.slot] = name
        }
        if found == nil, Int(inspections[Int(event.slot)]) >= maximumInspections { found = .unknown }
        guard let appProtocol = found else { return }
        detected[Int(appProtocol.rawValue)] &+= 1
        // Decided: no more events for this flow, before telling the others.
        context.unsubscribeAll(slot: event.slot)
        inspections[Int(event.slot)] = UInt8(maximumInspections)
        var detection = event
        if handOver {
            detection.data = bytes.baseAddress
            detection.dataOffset = 0
            detection.dataLength = bytes.count
        }
        context.publish(.dpiDetect, about: detection, detail: EventDetail(appProtocol: appProtocol))
    }

    // Prefixes made once: an array literal in `classify` allocated on every call.
    static let httpMethods: [[UInt8]] = ["GET ", "POST ", "PUT ", "HEAD ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE "]
        .map { Array($0.utf8) }
    static let smtpGreetings: [[UInt8]] = ["EHLO ", "HELO "].map { Array($0.utf8) }
    static let smtpBanners: [[UInt8]] = ["220 ", "220-"].map { Array($0.utf8) }
    static let httpResponse = Array("HTTP/1.".utf8)
    static let sshBanner = Array("SSH-".utf8)

    /// The protocol a payload shows, or nil when it does not tell yet.
    public static func classify(_ bytes: UnsafeRawBufferPointer, fromClient: Bool, isUDP: Bool) -> AppProtocol? {
        func starts(with prefix: [UInt8]) -> Bool {
            bytes.count >= prefix.count && zip(bytes, prefix).allSatisfy { $0 == $1 }
        }
        if isUDP { return looksLikeDNS(bytes) ? .dns : nil }
        if fromClient {
            if httpMethods.contains(where: starts(with:)) { return .http }
            if smtpGreetings.contains(where: starts(with:)) { return .smtp }
        } else {
            if starts(with: httpResponse) { return .http }
            if smtpBanners.contains(where: starts(with:)) {
                let banner = String(decoding: bytes.prefix(128), as: UTF8.self)
                if banner.contains("SMTP") || banner.contains("ESMTP") || banner.contains("mail") { return .smtp }
            }
        }
        if starts(with: sshBanner) { return .ssh }
        // TLS handshake record, version 3.x, carrying a ClientHello or ServerHello.
        if bytes.count >= 6, bytes[0] == 0x16, bytes[1] == 0x03, bytes[2] <= 0x04, bytes[5] == 1 || bytes[5] == 2 {
            return .tls
        }
        return nil
    }

    static func looksLikeDNS(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 12 else { return false }
        let questions = Int(bytes[4]) << 8 | Int(bytes[5])
        let opcode = (bytes[2] >> 3) & 0x0F
        return questions >= 1 && questions <= 16 && opcode <= 5
    }

    /// The server_name extension of a TLS ClientHello, every length checked.
    public static func serverName(inClientHello bytes: UnsafeRawBufferPointer) -> String? {
        var cursor = 5 + 4 + 2 + 32  // record header, handshake header, version, random
        func u8(_ at: Int) -> Int? { at < bytes.count ? Int(bytes[at]) : nil }
        func u16(_ at: Int) -> Int? { at + 1 < bytes.count ? Int(bytes[at]) << 8 | Int(bytes[at + 1]) : nil }
        guard bytes.count > 5, bytes[5] == 1 else { return nil }
        guard let sessionLength = u8(cursor) else { return nil }
        cursor += 1 + sessionLength
        guard let suitesLength = u16(cursor) else { return nil }
        cursor += 2 + suitesLength
        guard let compressionLength = u8(cursor) else { return nil }
        cursor += 1 + compressionLength
        guard let extensionsLength = u16(cursor) else { return nil }
        cursor += 2
        let end = min(bytes.count, cursor + extensionsLength)
        while cursor + 4 <= end {
            guard let type = u16(cursor), let length = u16(cursor + 2) else { return nil }
            let body = cursor + 4
            if type == 0 {
                // server_name_list: length, then entries of (type, length, name).
                guard let nameType = u8(body + 2), nameType == 0, let nameLength = u16(body + 3),
                      body + 5 + nameLength <= end else { return nil }
                return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(body + 5)..<(body + 5 + nameLength)]),
                              as: UTF8.self)
            }
            cursor = body + length
        }
        return nil
    }
}

// MARK: - Its kind: parameters read from the chain file, beside the NF.

extension DPI {
    public static let kind = NFKind(type: "DPI", action: .readOnly, publishes: ["EVENT/DPI_DETECT"], parameters: ["max_inspections"]) {
        parameters, _, _ in
        let maximum = parameters.int("max_inspections", default: 8, range: 1...64)
        return NFPreparation { DPI(maximumInspections: maximum) }
    }
}

import MBoxAppLayer
import MBoxEvents
import MBoxNFRunner
import MBoxPacket
import MBoxTCPMonitor

/// DPI: tells a flow's application protocol (HTTP, TLS with SNI, SSH, DNS, SMTP, FTP, SMB)
/// from its first payloads, publishes `EVENT/DPI_DETECT` once, and unsubscribes itself
/// from the flow — what is decided costs nothing more. When the chain runs an
/// application-layer stage (some NF reads application data), DPI reads on streams what the
/// stage detected, and the SNI of the ClientHello it parsed: detected and parsed once, for
/// every NF. It asks for no stage of its own: feeding one every byte of every flow costs
/// far more than DPI's look at a flow's first chunks (30 % of the seed's configuration 5,
/// measured). Without one, and on packets, it tells protocols with the stage's detector
/// (`AppDetect`) and reads the SNI with `TLSParser`. So DPI and Signature_Match agree on
/// every flow.
///
/// On reassembled streams (`DATA_RDY`) it classifies the stream's first bytes, however
/// finely they were segmented, and hands them over in the `DPI_DETECT` event (`data`,
/// from offset 0), so an NF that subscribes on detection still sees the stream whole.
public final class DPI: NetworkFunction {
    /// Payload-carrying events inspected per flow before giving up (publishing `unknown`).
    public let maximumInspections: Int
    /// Stream bytes kept per flow direction while undecided.
    public static let prefixLimit = 1024
    /// Flows decided, by protocol: index 0 is "unknown", protocol `p` is `p.rawValue + 1`.
    private var detections = [UInt64](repeating: 0, count: AppLayerProtocol.allCases.count + 1)

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

    /// Flows DPI decided were `app` (nil: flows it gave up on).
    public func detected(_ app: AppLayerProtocol?) -> UInt64 { detections[app.map { Int($0.rawValue) + 1 } ?? 0] }

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
        let toServer = event.cause == .client
        let found: AppLayerProtocol?
        let stage = event.type == .dataReady ? context.appLayer : nil
        if let stage {
            found = stage.detected(slot: event.slot, flowID: event.flowID)
        } else if let headers = event.headers?.pointee, headers.isUDP {
            found = AppDetect.udp(bytes, sourcePort: headers.sourcePort, destinationPort: headers.destinationPort)
        } else {
            found = AppDetect.tcp(bytes, toServer: toServer)
        }
        // Undecided until a protocol shows or the inspections run out (then: unknown, nil).
        guard found != nil || Int(inspections[Int(event.slot)]) >= maximumInspections else { return }
        if found == .tls, toServer {
            if let stage, stage.parsed.contains(.tls), stage.wanted.contains(.tlsSNI) {
                let end = event.dataOffset + UInt64(event.dataLength)
                stage.forEachTransaction(records: event.detail.index, count: event.detail.value, after: 0, through: end) { hello in
                    _ = hello.buffers.first(.tlsSNI) { name in
                        serverNames[event.slot] = String(decoding: name, as: UTF8.self)
                        return true
                    }
                }
            } else if let name = TLSParser.serverName(inClientHello: bytes) {
                serverNames[event.slot] = name
            }
        }
        let appProtocol = found
        detections[appProtocol.map { Int($0.rawValue) + 1 } ?? 0] &+= 1
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

}

// MARK: - Its kind: parameters read from the chain file, beside the NF.

extension DPI {
    public static let kind = NFKind(type: "DPI", action: .readOnly, publishes: ["EVENT/DPI_DETECT"], parameters: ["max_inspections"]) {
        parameters, _, _ in
        let maximum = parameters.int("max_inspections", default: 8, range: 1...64)
        return NFPreparation { DPI(maximumInspections: maximum) }
    }
}

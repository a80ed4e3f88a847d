import MBoxMatch
import MBoxPacket
import MBoxRules

/// One worker's detection: Hyperscan scratch for the prefilters, PCRE2 match data, per-flow
/// bits, thresholds. Evaluates rules over packets, stream windows and application
/// transactions and reports the rules that raise an alert.
public final class Detector {
    public let engine: DetectEngine
    /// One scanner per prefilter group; the payload group's index.
    private let scanners: [Scanner]
    private let payloadGroup: Int?
    /// The prefilter groups flattened (read per transaction without copying their structs).
    private let groupBuffers: [InspectionBuffer]
    private let groupTransformed: [Bool]
    private let appGroups: [Int]
    private let unfilteredAppBuffers: [InspectionBuffer]
    /// The engine's rules and compiled rules, read in place (a copy of a `Rule` retains
    /// each of its strings and arrays).
    private let rules: UnsafeMutableBufferPointer<Rule>
    private let compiled: UnsafeMutableBufferPointer<CompiledRule>
    /// Every rule's packet conditions in one flat array, rule `i`'s at
    /// `conditionStart[i]..<conditionStart[i + 1]` (no array retained per candidate).
    private let conditions: UnsafeMutableBufferPointer<PacketCondition>
    private let conditionStart: UnsafeMutableBufferPointer<Int32>
    private let inspector: ContentInspector
    private var candidates: [Int32] = []
    /// The prefilter hits of the last packet payload inspected.
    private var packetHits: [Int32] = []
    private var seen: [UInt32]
    private var generation: UInt32 = 0
    /// Flowbits by flow slot (bit words), xbits by host or pair.
    private var flowBits: [[UInt64]]
    private var hostBits = HostBits()
    private var thresholds = ThresholdTable()
    public private(set) var counters = DetectorCounters()

    public init(engine: DetectEngine, capacity: Int) throws {
        self.engine = engine
        scanners = try engine.prefilters.map { try Scanner(database: $0.database) }
        payloadGroup = engine.prefilters.firstIndex { $0.buffer == .payload && $0.transforms.isEmpty }
        groupBuffers = engine.prefilters.map(\.buffer)
        groupTransformed = engine.prefilters.map { !$0.transforms.isEmpty }
        appGroups = engine.prefilters.indices.filter { engine.prefilters[$0].buffer != .payload }
        unfilteredAppBuffers = InspectionBuffer.allCases.filter { $0 != .payload && !engine.unfiltered[Int($0.rawValue)].isEmpty }
        rules = .allocate(capacity: engine.rules.count)
        _ = rules.initialize(from: engine.rules)
        compiled = .allocate(capacity: engine.compiled.count)
        _ = compiled.initialize(from: engine.compiled)
        let allConditions = engine.rules.flatMap(\.conditions)
        conditions = .allocate(capacity: allConditions.count)
        _ = conditions.initialize(from: allConditions)
        conditionStart = .allocate(capacity: engine.rules.count + 1)
        var start: Int32 = 0
        for (index, rule) in engine.rules.enumerated() {
            conditionStart[index] = start
            start += Int32(rule.conditions.count)
        }
        conditionStart[engine.rules.count] = start
        inspector = ContentInspector(regexes: engine.regexes)
        seen = Array(repeating: 0, count: engine.rules.count)
        flowBits = Array(repeating: [], count: engine.bitCount == 0 ? 0 : capacity)
        candidates.reserveCapacity(256)
    }

    deinit {
        rules.baseAddress?.deinitialize(count: rules.count)
        rules.deallocate()
        compiled.baseAddress?.deinitialize(count: compiled.count)
        compiled.deallocate()
        conditions.baseAddress?.deinitialize(count: conditions.count)
        conditions.deallocate()
        conditionStart.deallocate()
    }

    /// Forgets a flow's bits (its slot is about to be reused).
    public func flowEnded(slot: Int32) {
        if engine.bitCount > 0, !flowBits[Int(slot)].isEmpty { flowBits[Int(slot)] = [] }
    }

    // MARK: - Entry points

    /// Header-only rules and payload rules over one packet's payload (`stream` false), or
    /// over a stream window whose bytes before `newFrom` were inspected already (`stream`
    /// true: a match must end past them). Matching rules are appended to `matched`.
    ///
    /// For a stream window, `seen` holds the rules whose fast pattern occurred earlier in
    /// this stream direction: only the new bytes (and the pattern length before them) are
    /// scanned, the window's older bytes having been scanned when they were new. A rule
    /// can only match where its fast pattern occurs, so the candidates are the same.
    ///
    /// `newBytesArePacket` says the window's new bytes are the payload of the packet last
    /// inspected: its prefilter hits stand for them, and only the boundary is scanned.
    public func inspectPayload(_ facts: PacketFacts, payload: UnsafeRawBufferPointer, stream: Bool, newFrom: Int = 0,
                               seen: UnsafeMutablePointer<StreamPatterns>? = nil, newBytesArePacket: Bool = false,
                               slot: Int32, into matched: inout [Int32]) {
        beginCandidates()
        if !stream {
            for rule in engine.headerOnlyIndex.unindexed { addCandidate(rule) }
            engine.headerOnlyIndex.forEachCandidate(source: AddressValue(facts.source), destination: AddressValue(facts.destination)) {
                addCandidate($0)
            }
        }
        let buffer = Int(InspectionBuffer.payload.rawValue)
        for rule in engine.unfiltered[buffer] { addCandidate(rule) }
        if !payload.isEmpty, let group = payloadGroup {
            if let seen, !seen.pointee.overflowed {
                for rule in seen.pointee.rules { addCandidate(rule) }
                let reach = engine.longestPayloadPattern - 1
                let from = max(0, newFrom - reach)
                if newBytesArePacket {
                    // The packet's own hits, then patterns across the boundary with the kept bytes.
                    for rule in packetHits {
                        addCandidate(rule)
                        seen.pointee.remember(rule)
                    }
                    if from < newFrom {
                        scanners[group].scan(UnsafeRawBufferPointer(rebasing: payload[from..<min(payload.count, newFrom + reach)]))
                    }
                } else {
                    scanners[group].scan(UnsafeRawBufferPointer(rebasing: payload[from...]))
                }
                if !newBytesArePacket || from < newFrom {
                    for hit in scanners[group].lastHits {
                        addCandidate(Int32(hit.id))
                        seen.pointee.remember(Int32(hit.id))
                    }
                }
            } else {
                scanners[group].scan(payload)
                if !packetHits.isEmpty { packetHits.removeAll(keepingCapacity: true) }
                for hit in scanners[group].lastHits {
                    addCandidate(Int32(hit.id))
                    if !stream { packetHits.append(Int32(hit.id)) }
                }
            }
        }
        guard !candidates.isEmpty else { return }
        candidates.sort()
        counters.candidates &+= UInt64(candidates.count)
        for rule in candidates {
            let entry = compiled.baseAddress! + Int(rule)
            if entry.pointee.inspectsApp { continue }
            if entry.pointee.inspectsPayload {
                if payload.isEmpty { continue }
                switch rules[Int(rule)].streamMode {
                case .packetOnly where stream, .streamOnly where !stream: continue
                default: break
                }
                if !stream, facts.ipProtocol == IPProtocolNumber.tcp, rules[Int(rule)].streamMode == .both,
                   rules[Int(rule)].appProtocol != nil, facts.appProtocol == nil {
                    // An app-protocol payload rule waits for the stream, where the protocol is known.
                    continue
                }
            }
            guard headerHolds(rule, facts, slot: slot) else { continue }
            if entry.pointee.inspectsPayload {
                let section = entry.pointee.sections[0]
                let holds = section.items.withUnsafeBufferPointer {
                    inspector.matches($0, in: payload, minimumEnd: stream ? newFrom + 1 : 0)
                }
                guard holds else { continue }
                // What base64_decode produced, when the rule reads it.
                if entry.pointee.sections.count > 1,
                   !sectionHolds(entry.pointee.sections[1], AppBuffers(protocolName: .http)) { continue }
            }
            matchedRule(rule, facts, slot: slot, into: &matched)
        }
    }

    /// Rules on application-layer buffers over one transaction's `buffers`.
    public func inspectTransaction(_ facts: PacketFacts, buffers: AppBuffers, slot: Int32, into matched: inout [Int32]) {
        beginCandidates()
        for buffer in unfilteredAppBuffers where buffers.has(buffer) {
            for rule in engine.unfiltered[Int(buffer.rawValue)] { addCandidate(rule) }
        }
        for index in appGroups where buffers.has(groupBuffers[index]) {
            _ = buffers.first(groupBuffers[index]) { instance in
                // A transformed buffer is scanned as the rules inspect it.
                if groupTransformed[index] {
                    Transforms.apply(engine.prefilters[index].transforms, to: Array(instance)).withUnsafeBytes { scanners[index].scan($0) }
                } else {
                    scanners[index].scan(instance)
                }
                for hit in scanners[index].lastHits { addCandidate(Int32(hit.id)) }
                return false
            }
        }
        guard !candidates.isEmpty else { return }
        candidates.sort()
        counters.candidates &+= UInt64(candidates.count)
        for rule in candidates {
            let entry = compiled.baseAddress! + Int(rule)
            guard entry.pointee.inspectsApp, headerHolds(rule, facts, slot: slot) else { continue }
            var holds = true
            for section in entry.pointee.sections where holds {
                holds = sectionHolds(section, buffers)
            }
            guard holds else { continue }
            matchedRule(rule, facts, slot: slot, into: &matched)
        }
    }

    // MARK: - Evaluation

    private func sectionHolds(_ section: CompiledSection, _ buffers: AppBuffers) -> Bool {
        switch section.buffer {
        case .base64Data:
            return inspector.decoded.withUnsafeBytes { holds(section, $0) }
        case .payload:
            // A payload test in an application rule reads the message as sent.
            return buffers.first(.httpStart) { holds(section, $0) } || buffers.first(.httpHeaderRaw) { holds(section, $0) }
        default:
            return buffers.first(section.buffer) { holds(section, $0) }
        }
    }

    /// One instance of a section's buffer: transformed, sized, inspected.
    private func holds(_ section: CompiledSection, _ instance: UnsafeRawBufferPointer) -> Bool {
        if !section.transforms.isEmpty {
            return Transforms.apply(section.transforms, to: Array(instance)).withUnsafeBytes { transformed in
                if let size = section.size, !size.holds(UInt64(transformed.count)) { return false }
                return section.items.withUnsafeBufferPointer { inspector.matches($0, in: transformed, minimumEnd: 0) }
            }
        }
        if let size = section.size, !size.holds(UInt64(instance.count)) { return false }
        return section.items.withUnsafeBufferPointer { inspector.matches($0, in: instance, minimumEnd: 0) }
    }

    /// Header, flow, size and flag tests and bit tests.
    private func headerHolds(_ index: Int32, _ facts: PacketFacts, slot: Int32) -> Bool {
        let rule = UnsafePointer(rules.baseAddress! + Int(index))
        if let proto = rule.pointee.ipProtocol, proto != facts.ipProtocol {
            guard proto == IPProtocolNumber.icmp, facts.ipProtocol == IPProtocolNumber.icmpv6 else { return false }
        }
        if let app = rule.pointee.appProtocol, app != facts.appProtocol { return false }
        guard FlowKeyword.holds(direction: rule.pointee.flowDirection, established: rule.pointee.established, facts) else {
            return false
        }
        // Most rules have no packet condition: their empty array is the shared empty one
        // (always in cache), so the flat table is touched only for the rules that do.
        if !rule.pointee.conditions.isEmpty {
            var condition = Int(conditionStart[Int(index)])
            let end = Int(conditionStart[Int(index) + 1])
            while condition < end {
                guard conditions[condition].holds(facts) else { return false }
                condition += 1
            }
        }
        guard engine.headers.matches(Int(index), source: AddressValue(facts.source), sourcePort: facts.sourcePort,
                                     destination: AddressValue(facts.destination),
                                     destinationPort: facts.destinationPort) else { return false }
        for (operation, bits) in compiled[Int(index)].bitTests {
            let states = bits.map { isSet($0, operation.scope, facts, slot: slot) }
            let wanted = operation.command == .isset
            let holds = operation.anyOf ? states.contains(wanted) : states.allSatisfy { $0 == wanted }
            if !holds { return false }
        }
        return true
    }

    /// A rule matched: its bits change, thresholds decide whether it alerts.
    private func matchedRule(_ index: Int32, _ facts: PacketFacts, slot: Int32, into matched: inout [Int32]) {
        let rule = UnsafePointer(rules.baseAddress! + Int(index))
        for (operation, bits) in compiled[Int(index)].bitChanges {
            for bit in bits { change(bit, operation, facts, slot: slot) }
        }
        if let filter = rule.pointee.detectionFilter, !thresholds.passes(index, filter, facts) { return }
        if let threshold = rule.pointee.threshold, !thresholds.passes(index, threshold, facts) { return }
        if rule.pointee.noAlert { return }
        for suppression in rule.pointee.suppressions {
            switch suppression.track {
            case nil: return
            case .bySource?: if suppression.addresses.contains(facts.source) { return }
            case .byDestination?: if suppression.addresses.contains(facts.destination) { return }
            case .byEither?:
                if suppression.addresses.contains(facts.source) || suppression.addresses.contains(facts.destination) { return }
            }
        }
        matched.append(index)
    }

    // MARK: - Bits

    private func isSet(_ bit: Int, _ scope: BitOperation.Scope, _ facts: PacketFacts, slot: Int32) -> Bool {
        switch scope {
        case .flow:
            let words = flowBits[Int(slot)]
            return bit / 64 < words.count && words[bit / 64] & (1 << UInt64(bit % 64)) != 0
        default:
            return hostBits.isSet(bit, key: HostBits.key(scope, facts), now: facts.timestamp)
        }
    }

    private func change(_ bit: Int, _ operation: BitOperation, _ facts: PacketFacts, slot: Int32) {
        switch operation.scope {
        case .flow:
            if flowBits[Int(slot)].count <= bit / 64 {
                flowBits[Int(slot)] += Array(repeating: 0, count: bit / 64 + 1 - flowBits[Int(slot)].count)
            }
            let mask: UInt64 = 1 << UInt64(bit % 64)
            switch operation.command {
            case .set: flowBits[Int(slot)][bit / 64] |= mask
            case .unset: flowBits[Int(slot)][bit / 64] &= ~mask
            case .toggle: flowBits[Int(slot)][bit / 64] ^= mask
            default: break
            }
        default:
            hostBits.change(bit, operation, key: HostBits.key(operation.scope, facts), now: facts.timestamp)
        }
    }

    // MARK: - Candidates

    private func beginCandidates() {
        if !candidates.isEmpty { candidates.removeAll(keepingCapacity: true) }
        generation &+= 1
        if generation == 0 {
            for index in seen.indices { seen[index] = 0 }
            generation = 1
        }
    }

    @inline(__always)
    private func addCandidate(_ rule: Int32) {
        if seen[Int(rule)] != generation {
            seen[Int(rule)] = generation
            candidates.append(rule)
        }
    }
}

/// The rules whose fast pattern has occurred in one stream direction so far (bounded:
/// past `capacity` the whole window is scanned each time instead).
public struct StreamPatterns {
    public static let capacity = 64
    var rules: [Int32] = []
    var overflowed = false

    public init() {}

    mutating func remember(_ rule: Int32) {
        guard !overflowed, !rules.contains(rule) else { return }
        if rules.count == Self.capacity {
            overflowed = true
            rules = []
        } else {
            rules.append(rule)
        }
    }

    /// A gap: the window restarts, and so does what it holds.
    public mutating func reset() {
        if !rules.isEmpty { rules.removeAll(keepingCapacity: true) }
        overflowed = false
    }
}

/// What a detector counted.
public struct DetectorCounters: Sendable {
    /// Rules evaluated after the prefilter.
    public var candidates: UInt64 = 0
}

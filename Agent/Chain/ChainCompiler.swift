import MBoxAppLayer
import MBoxNFs
import Foundation
import MBoxDataPath
import MBoxDetect
import MBoxEvents
import MBoxTCPSplicer
import MBoxNFRunner
import MBoxPacket
import MBoxTCPMonitor

/// A validated chain, ready to instantiate on any number of workers: immutable, so
/// shared by them as it is (its NF factories are `@Sendable`).
public final class CompiledChain: Sendable {
    public let definition: ChainDefinition
    public let types: EventTypes
    public let subscriptions: [Subscription]
    public let kinds: [NFKind]
    /// Stages in order; a stage of several NFs runs them in parallel.
    public let stages: [[Int]]
    /// NFs of parallel stages that run asynchronously on a helper core: read-only, and no
    /// NF subscribes to what they publish.
    public let offloaded: Set<Int>
    let factories: [@Sendable () throws -> any NetworkFunction]
    /// What the chain's application-layer stage parses (nil: no NF reads application data,
    /// and no stage runs).
    public let appLayer: AppLayerNeeds?

    init(definition: ChainDefinition, types: EventTypes, subscriptions: [Subscription], kinds: [NFKind],
         stages: [[Int]], offloaded: Set<Int>, factories: [@Sendable () throws -> any NetworkFunction],
         appLayer: AppLayerNeeds?) {
        self.definition = definition
        self.appLayer = appLayer
        self.offloaded = offloaded
        self.types = types
        self.subscriptions = subscriptions
        self.kinds = kinds
        self.stages = stages
        self.factories = factories
    }

    /// Builds one worker: a data path configured for this chain's stack, the event
    /// source, and fresh instances of every NF (helpers of parallel stages started by `launcher`).
    public func makePipeline(configuration: DataPathConfiguration, keepBothStreams: Bool = false,
                             launcher: HelperLauncher = .threads) throws -> Pipeline {
        var configuration = configuration
        configuration.tracksTCP = definition.stack.tracksTCP
        configuration.stackRules = definition.stackRules.map(\.rule)
        let services = definition.stackRules.compactMap(\.service)
        configuration.splicer = services.isEmpty ? nil : SplicerConfiguration(services: services)
        if !definition.reassembly || !configuration.tracksTCP { configuration.reassembly = nil } else if configuration.reassembly == nil {
            configuration.reassembly = ReassemblyConfiguration()
        }
        if keepBothStreams == false, configuration.reassembly != nil {
            // Reassemble only the directions some DATA_RDY (or application) subscription reads.
            let readers = streamReaders
            configuration.reassembly!.toServer = readers.contains { !$0.filter.intersection(.matching(side: nil, cause: .client)).isEmpty }
            configuration.reassembly!.toClient = readers.contains { !$0.filter.intersection(.matching(side: nil, cause: .server)).isEmpty }
        }
        let dataPath = DataPath(configuration: configuration)
        let (source, runner) = try makeStages(on: dataPath, launcher: launcher)
        return Pipeline(dataPath: dataPath, source: source, chain: runner)
    }

    /// The event source and fresh NF instances on an existing data path (a chain swapped
    /// into a running agent). Throws when that data path lacks what the chain needs.
    public func makeStages(on dataPath: DataPath, launcher: HelperLauncher = .threads) throws -> (EventSource, ChainRunner) {
        let prepared = try prepareStages(for: dataPath.configuration, launcher: launcher)
        prepared.attach(to: dataPath)
        return (prepared.source, prepared.runner)
    }

    /// Everything `makeStages` does that may run off the data path's thread: checks, NF
    /// instances, the runner and its helpers, for a data path built with `data`. What is
    /// returned shares nothing with any data path (`sending`: the compiler checks the move);
    /// the data path's own thread then calls `attach(to:)` and swaps the stages in.
    public func prepareStages(for data: DataPathConfiguration, launcher: HelperLauncher = .threads) throws -> sending PreparedStages {
        if definition.stack.tracksTCP, !data.tracksTCP {
            throw ChainErrors(errors: [ChainError(location: SourceLocation(file: definition.file, line: 0, column: 0),
                                                  message: "the chain needs the \(definition.stack) stack; this agent's data path tracks headers and flows only")])
        }
        if definition.usesSplicer, data.splicerServices != definition.stackRules.compactMap(\.service) {
            throw ChainErrors(errors: [ChainError(location: SourceLocation(file: definition.file, line: 0, column: 0),
                                                  message: "the chain's TCP Splicer services differ from this agent's data path (restart the agent with the chain)")])
        }
        let readers = streamReaders
        let readsClient = readers.contains { !$0.filter.intersection(.matching(side: nil, cause: .client)).isEmpty }
        let readsServer = readers.contains { !$0.filter.intersection(.matching(side: nil, cause: .server)).isEmpty }
        if (readsClient && data.reassembly?.toServer != true) || (readsServer && data.reassembly?.toClient != true) {
            throw ChainErrors(errors: [ChainError(location: SourceLocation(file: definition.file, line: 0, column: 0),
                                                  message: "the chain reads reassembled streams that this agent's data path does not reassemble (started with --no-reassembly?)")])
        }
        let members = try zip(definition.functions, zip(kinds, factories)).map { function, pair in
            ChainMember(name: function.name, action: pair.0.action, function: try pair.1())
        }
        let capacity = data.flowTable.capacity
        let stage = appLayer.map { AppLayerStage(capacity: capacity, wanted: $0.buffers, parsed: $0.protocols) }
        let runner = try ChainRunner(types: types, subscriptions: subscriptions, members: members, capacity: capacity,
                                     stages: stages, offloaded: offloaded, launcher: launcher, appLayer: stage)
        let wanted = runner.table.wantedTypes(types)
        // Byte streams wait for NFs' edits only when some NF reads them.
        let rewrites = wanted & (1 << UInt64(EventTypeID.byteStream.rawValue)) != 0
        return PreparedStages(source: EventSource(types: types, wantedTypes: wanted, appLayer: stage),
                              runner: runner, rewritesStreams: rewrites)
    }

    /// Subscriptions that read reassembled streams: `DATA_RDY`, and application events
    /// (TCP's come from the streams; DNS over UDP needs none).
    var streamReaders: [Subscription] {
        subscriptions.filter { types.isA(.dataReady, $0.type) || (types.isA($0.type, .app) && !types.isA($0.type, .appDNS)) }
    }
}

/// A chain's stages built for a data path, not yet bound to it: built on one thread (the
/// session's) and moved to the data path's with `sending`, so nothing keeps a reference behind.
public struct PreparedStages {
    public let source: EventSource
    public let runner: ChainRunner
    let rewritesStreams: Bool

    /// Binds the stages to `dataPath` and sets what it must do for them; call on the data
    /// path's thread, right before the stages take over.
    public func attach(to dataPath: DataPath) {
        runner.attach(to: dataPath)
        dataPath.splitProxy?.rewriting = rewritesStreams
    }
}

/// Checks a chain's meaning and compiles it: NF types and parameters exist, every
/// subscribed event has a publisher, filters fit their events, parallel groups do not
/// conflict. Reports every problem with its line.
public struct ChainCompiler {
    public init() {}

    /// Most NFs one parallel stage runs at once (one per core).
    public var maximumParallelWidth = max(2, ProcessInfo.processInfo.activeProcessorCount)

    public func compile(_ chain: ChainDefinition, resources: BuildResources) throws -> CompiledChain {
        var errors: [ChainError] = []
        var types = EventTypes()
        let directory = (chain.file as NSString).deletingLastPathComponent.isEmpty
            ? "." : (chain.file as NSString).deletingLastPathComponent
        var kinds: [NFKind] = []
        var factories: [@Sendable () throws -> any NetworkFunction] = []
        var publishers: [String: Int] = [:]
        var names: [String: SourceLocation] = [:]
        var needs: [Int: DetectionNeeds] = [:]

        // NFs: types, names, parameters, publications.
        for (index, function) in chain.functions.enumerated() {
            if let first = names[function.name] {
                errors.append(ChainError(location: function.location, message: "NF name '\(function.name)' is used twice (first at line \(first.line))"))
            }
            names[function.name] = function.location
            guard let kind = NFKind.named(function.type) else {
                errors.append(ChainError(location: function.location,
                                         message: "unknown NF type '\(function.type)' (known: \(NFKind.all.map(\.type).joined(separator: ", ")))"))
                continue
            }
            var parameters = Parameters(function.parameters, owner: function.location)
            let prepared = kind.prepare(&parameters, resources, directory)
            if let wanted = prepared?.needs { needs[index] = wanted }
            parameters.rejectUnknown(kind: kind.type, known: kind.parameters)
            errors += parameters.errors
            kinds.append(kind)
            let refused: @Sendable () throws -> any NetworkFunction = { throw ChainErrors(errors: []) }
            factories.append(prepared?.factory ?? refused)
            for (event, location) in function.publications ?? kind.publishes.map({ ($0, function.location) }) {
                guard kind.publishes.contains(event) else {
                    errors.append(ChainError(location: location, message: "\(kind.type) does not publish '\(event)'"
                        + (kind.publishes.isEmpty ? " (it publishes nothing)" : " (it publishes \(kind.publishes.joined(separator: ", ")))")))
                    continue
                }
                do { _ = try types.declare(event) } catch { errors.append(ChainError(location: location, message: "\(error)")) }
                publishers[event] = index
            }
        }
        guard errors.isEmpty else { throw ChainErrors(errors: errors) }

        // Subscriptions.
        var subscriptions: [Subscription] = []
        for (index, function) in chain.functions.enumerated() {
            for definition in function.subscriptions {
                guard var subscription = compile(definition, nf: index, types: types, chain: chain,
                                                 publishers: publishers, errors: &errors) else { continue }
                if chain.deriveFromRules, let wanted = needs[index] {
                    guard Self.narrow(&subscription, to: wanted, types: types) else { continue }
                }
                subscriptions.append(subscription)
            }
            if function.subscriptions.isEmpty {
                errors.append(ChainError(location: function.location, message: "NF '\(function.name)' subscribes to nothing"))
            }
        }
        if subscriptions.count > SubscriptionTable.maximumCount {
            errors.append(ChainError(location: SourceLocation(file: chain.file, line: 1, column: 1),
                                     message: "\(subscriptions.count) subscriptions; at most \(SubscriptionTable.maximumCount) per chain"))
        }

        // Stages: sequential, or parallel groups that do not conflict.
        let stages = plan(chain, kinds: kinds, subscriptions: subscriptions, publishers: publishers, types: types, errors: &errors)
        guard errors.isEmpty else { throw ChainErrors(errors: errors) }
        var offloaded = Set<Int>()
        for stage in stages where stage.count > 1 {
            let candidates = stage.filter { member in
                kinds[member].action == .readOnly && !chain.functions.indices.contains { other in
                    other != member && feeds(member, other, subscriptions: subscriptions, publishers: publishers, types: types)
                }
            }
            // One member stays on the chain's own core.
            offloaded.formUnion(candidates.count == stage.count ? Array(candidates.dropFirst()) : candidates)
        }
        return CompiledChain(definition: chain, types: types, subscriptions: subscriptions, kinds: kinds,
                             stages: stages, offloaded: offloaded, factories: factories,
                             appLayer: AppLayerNeeds(detection: Array(needs.values), subscriptions: subscriptions, types: types))
    }

    /// Narrows a detection NF's subscription to what its rules can use: stream directions no
    /// rule reads are not delivered (nor reassembled), flow ends only matter to the
    /// application-layer parsers. False when nothing of it is needed.
    static func narrow(_ subscription: inout Subscription, to needs: DetectionNeeds, types: EventTypes) -> Bool {
        if subscription.type == .flowDestroyed { return !needs.appProtocols.isEmpty }
        guard types.isA(subscription.type, .dataReady) else { return true }
        if !needs.streamToServer { subscription.filter = subscription.filter.intersection(.matching(side: nil, cause: .server)) }
        if !needs.streamToClient { subscription.filter = subscription.filter.intersection(.matching(side: nil, cause: .client)) }
        return !subscription.filter.isEmpty
    }

    private func compile(_ definition: SubscriptionDefinition, nf: Int, types: EventTypes, chain: ChainDefinition,
                         publishers: [String: Int], errors: inout [ChainError]) -> Subscription? {
        func fail(_ message: String) -> Subscription? {
            errors.append(ChainError(location: definition.location, message: message))
            return nil
        }
        guard let type = types.id(definition.event) else {
            if definition.event.hasPrefix("EVENT/") {
                return fail("no NF in this chain publishes '\(definition.event)'")
            }
            return fail("unknown event '\(definition.event)' (stack events: PKT, PKT/TCP, FLOW, FLOW/TCP, DATA_RDY, FLOW_DEST, EVENT/DECODER_ANOMALY, EVENT/STREAM_ANOMALY, FLOW_REQ, BYTESTREAM; NF events go under EVENT/)")
        }
        if type == .byteStream, !chain.stackRules.contains(where: { $0.rule.stack == .tcpSplitProxy }) {
            return fail("BYTESTREAM is published by the TCP Split Proxy, which no 'select' rule of this chain uses")
        }
        if type == .flowRequest, !chain.usesSplicer {
            return fail("FLOW_REQ is published by the TCP Splicer, which no 'select' rule of this chain uses")
        }
        let stackPublished = type == .decoderAnomaly || type == .streamAnomaly
        if types.isA(type, .custom), type != .custom, !stackPublished, publishers[definition.event] == nil {
            return fail("no NF in this chain publishes '\(definition.event)'")
        }
        if type == .dataReady, !chain.reassembly || !chain.stack.tracksTCP {
            return fail("DATA_RDY needs 'stack: {type: tcp_monitor, reassembly: true}'")
        }
        if types.isA(type, .app), !types.isA(type, .appDNS), !chain.reassembly || !chain.stack.tracksTCP {
            return fail("\(definition.event) is parsed from reassembled streams: it needs 'stack: {type: tcp_monitor, reassembly: true}'")
        }
        if type == .streamAnomaly, !chain.stack.tracksTCP { return fail("EVENT/STREAM_ANOMALY comes from the TCP Monitor") }
        if type == .packetTCP, !chain.stack.tracksTCP { return fail("PKT/TCP comes from the TCP Monitor; the \(chain.stack) stack publishes PKT") }
        let stackEvent = type == .packetTCP || type == .packet || type == .dataReady || type == .byteStream || types.isA(type, .app)
        if !stackEvent, definition.stack != "any" || definition.from != "any" {
            return fail("'stack' and 'from' filter stack and application events (PKT, PKT/TCP, DATA_RDY, BYTESTREAM, APP/…), not \(definition.event)")
        }
        var condition: EventCondition?
        if let name = definition.appProtocol {
            guard type == .dpiDetect else { return fail("'where: {protocol: …}' applies to EVENT/DPI_DETECT only") }
            if name == "unknown" {
                condition = .appProtocol(nil)
            } else {
                guard let appProtocol = AppLayerProtocol(ruleName: name) else {
                    let names = AppLayerProtocol.allCases.map(\.description) + ["unknown"]
                    return fail("unknown protocol '\(name)' (\(names.joined(separator: ", ")))")
                }
                condition = .appProtocol(appProtocol)
            }
        }
        var filter: StackFilter = []
        for side in [FlowSide.client, .server] {
            for cause in [FlowSide.client, .server] {
                let sideOK: Bool
                switch definition.stack {
                case "client": sideOK = side == .client
                case "server": sideOK = side == .server
                case "sender": sideOK = side == cause
                case "receiver": sideOK = side != cause
                default: sideOK = true
                }
                let causeOK = definition.from == "any" || (definition.from == "client") == (cause == .client)
                if sideOK && causeOK { filter.insert(.bit(side: side, cause: cause)) }
            }
        }
        return Subscription(nf: nf, type: type, filter: filter, condition: condition, initiallyActive: !definition.dynamic)
    }

    private func plan(_ chain: ChainDefinition, kinds: [NFKind], subscriptions: [Subscription], publishers: [String: Int],
                      types: EventTypes, errors: inout [ChainError]) -> [[Int]] {
        var stages = chain.functions.indices.map { [$0] }
        guard chain.mode == .parallel else {
            for (_, location) in chain.parallelGroups {
                errors.append(ChainError(location: location, message: "parallel groups need 'mode: parallel'"))
            }
            return stages
        }
        let index = Dictionary(uniqueKeysWithValues: chain.functions.enumerated().map { ($1.name, $0) })
        var groups: [[Int]] = []
        for (names, location) in chain.parallelGroups {
            var members: [Int] = []
            for name in names {
                guard let member = index[name] else {
                    errors.append(ChainError(location: location, message: "parallel group names '\(name)', which is not in the chain"))
                    continue
                }
                members.append(member)
            }
            members.sort()
            if members.count != names.count { continue }
            if let member = members.first(where: { kinds[$0].action != .readOnly }) {
                errors.append(ChainError(location: location, message:
                    "'\(chain.functions[member].name)' may drop or modify packets, so it cannot run in parallel with others"))
            }
            if members.last! - members.first! != members.count - 1 {
                errors.append(ChainError(location: location, message: "a parallel group's NFs must stand next to each other in the chain"))
            }
            for publisher in members {
                for (event, publisherIndex) in publishers where publisherIndex == publisher {
                    guard let type = types.id(event) else { continue }
                    for subscriber in members where subscriber != publisher {
                        if subscriptions.contains(where: { $0.nf == subscriber && types.isA(type, $0.type) }) {
                            errors.append(ChainError(location: location, message:
                                "'\(chain.functions[subscriber].name)' subscribes to \(event), which '\(chain.functions[publisher].name)' in the same parallel group publishes: they must run one after the other"))
                        }
                    }
                }
            }
            if groups.contains(where: { !Set($0).isDisjoint(with: members) }) {
                errors.append(ChainError(location: location, message: "an NF is in two parallel groups"))
            }
            groups.append(members)
        }
        if chain.parallelGroups.isEmpty {
            // Without explicit groups, neighbouring read-only NFs that do not feed each other run together.
            var current: [Int] = []
            groups = []
            for member in chain.functions.indices {
                let independent = kinds[member].action == .readOnly && current.allSatisfy { other in
                    !feeds(other, member, subscriptions: subscriptions, publishers: publishers, types: types)
                        && !feeds(member, other, subscriptions: subscriptions, publishers: publishers, types: types)
                }
                if independent, !current.isEmpty, kinds[current[0]].action == .readOnly, current.count < maximumParallelWidth {
                    current.append(member)
                } else {
                    if current.count > 1 { groups.append(current) }
                    current = [member]
                }
            }
            if current.count > 1 { groups.append(current) }
        }
        for group in groups.sorted(by: { $0[0] > $1[0] }) {
            stages.replaceSubrange(group.first!...group.last!, with: [group])
        }
        return stages
    }

    /// Whether `publisher` publishes an event `subscriber` subscribes to.
    private func feeds(_ publisher: Int, _ subscriber: Int, subscriptions: [Subscription], publishers: [String: Int],
                       types: EventTypes) -> Bool {
        publishers.contains { event, index in
            guard index == publisher, let type = types.id(event) else { return false }
            return subscriptions.contains { $0.nf == subscriber && types.isA(type, $0.type) }
        }
    }
}

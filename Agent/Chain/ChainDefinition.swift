import MBoxNFs
import MBoxDataPath
import MBoxFlow
import MBoxEvents
import MBoxTCPSplicer
import MBoxNFRunner

/// One subscription as written in the chain file.
public struct SubscriptionDefinition: Sendable {
    public var event: String
    /// Whose stack: client, server, sender, receiver or any.
    public var stack: String = "any"
    /// Whose packet: client, server or any.
    public var from: String = "any"
    /// `where: {protocol: http}`.
    public var appProtocol: String?
    /// Off until the NF turns it on for a flow.
    public var dynamic = false
    public var location: SourceLocation
}

/// One NF as written in the chain file.
public struct FunctionDefinition: Sendable {
    public var name: String
    public var type: String
    public var parameters: [(String, ParameterValue, SourceLocation)] = []
    public var subscriptions: [SubscriptionDefinition] = []
    public var publications: [(String, SourceLocation)]?
    public var location: SourceLocation
}

/// A chain file: the μStack, how NFs run, and the NFs in order.
public struct ChainDefinition: Sendable {
    public enum Mode: String, Sendable { case sequential, parallel }

    public var name: String
    public var file: String
    /// The stack of flows no selector rule takes — one that takes any flow (`tcp_monitor`,
    /// or `l2l3`: headers and flows only) — and whether it reassembles streams.
    public var stack = StackKind.tcpMonitor
    public var reassembly = true
    public var mode = Mode.sequential
    /// Explicit groups of NFs that run in parallel (names), when `mode: parallel`.
    public var parallelGroups: [([String], SourceLocation)] = []
    public var functions: [FunctionDefinition] = []
    /// Which agents run the chain when a controller places it: those whose labels
    /// include every pair (empty: every agent). The agent itself ignores it.
    public var placement: [String: String] = [:]
    /// Detection NFs subscribe only to what their rules can use (`derive: true`, the
    /// default); `derive: false` delivers everything subscribed (the exhaustive chain).
    public var deriveFromRules = true
    /// Flows that run on another stack than `stack`, by their first packet (`select:`).
    public var stackRules: [StackRuleDefinition] = []

    /// Whether some flows run on the TCP Splicer.
    public var usesSplicer: Bool { stackRules.contains { $0.rule.stack.answersClients } }
}

/// One `select:` rule, and for the splicer the service it answers for.
public struct StackRuleDefinition: Sendable {
    public var rule: StackRule
    public var service: SplicedService?
}

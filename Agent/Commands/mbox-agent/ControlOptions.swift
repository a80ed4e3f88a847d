import ArgumentParser
import Foundation
import MBoxAgentControl
import MBoxRuntime
import MBoxControlPlane

/// How the agent reaches its controller (all optional: without --controller it runs alone).
struct ControlOptions: ParsableArguments {
    @Option(help: "Controller HOST:PORT (replicas: HOST:PORT,HOST:PORT,..., tried in turn): register, take pushed configs, stream alerts.")
    var controller: String?

    @Option(help: "Directory made by `mboxctl pki` (the agent's files are NAME.pem/NAME-key.pem, with --name).")
    var pki: String?

    @Option(help: "The agent's certificate name in --pki (its common name is the agent's identity).")
    var name: String?

    @OptionGroup var certificates: CertificateOptions

    @Option(help: "Labels for placement, k=v,k=v.")
    var labels: String = ""

    @Option(help: "Directory for the alert spool and the last good config.")
    var stateDir = "mbox-agent-state"

    @Flag(help: "Read no packets until a config (chain) is applied.")
    var waitForConfig = false

    @Option(help: "On stop, wait up to this many seconds for spooled alerts to reach the controller.")
    var drainSeconds: Double = 5

    var wanted: Bool { controller != nil }

    static let credentialsNeeded = "--controller needs --pki DIR --name NAME, or --cert, --key and --ca"

    func validate() throws {
        guard let controller else {
            if waitForConfig { throw ValidationError("--wait-for-config needs --controller") }
            return
        }
        do { _ = try ControlEndpoint.list(parsing: controller) } catch { throw ValidationError("--controller: \(error)") }
        guard (pki != nil && name != nil) || certificates.complete else {
            throw ValidationError(Self.credentialsNeeded)
        }
        _ = try parsedLabels()
    }

    func parsedLabels() throws -> [String: String] {
        do { return try Labels.parse(labels) } catch { throw ValidationError("--labels: \(error)") }
    }

    /// The session with the controller, reporting what `workers` data paths publish in
    /// `counters`; nil without --controller.
    func makeSession(capabilities: [String], counters: AgentCounters) throws -> ControlSession? {
        guard let controller else { return nil }
        let base = pki.flatMap { pki in name.map { TLSFiles(directory: pki, name: $0) } }
        guard let tls = certificates.files(over: base) else { throw AgentError(Self.credentialsNeeded) }
        var settings = ControlSession.Settings(controllers: try ControlEndpoint.list(parsing: controller), tls: tls, stateDirectory: stateDir)
        settings.labels = try parsedLabels()
        settings.capabilities = capabilities
        do {
            let spool = try AlertSpool(directory: stateDir + "/spool")
            let log = MBoxLogging.logger("mbox.agent.control")
            return try ControlSession(settings: settings, spool: spool, slot: ConfigSlot(readers: counters.workerCount),
                                      counters: counters) { line in log.info("\(line)") }
        } catch {
            throw AgentError("\(error)")
        }
    }
}

import ArgumentParser
import Foundation
import MBoxDetect
import MBoxRules

/// `mbox-agent rules FILE`: loads a rule file as the agent would and says what loaded, what
/// did not and why, grouped by the keyword to blame.
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Load a Suricata rules file and report loaded and refused rules by keyword.")

    @Argument(help: "Rules file.")
    var file: String

    @Flag(help: "List every refused rule (file:line: sid: reason).")
    var list = false

    func run() throws {
        guard FileManager.default.isReadableFile(atPath: file) else { throw AgentError("cannot read rules file \(file)") }
        let started = Date()
        let text = try String(contentsOfFile: file, encoding: .utf8)
        let set = RuleParser().parse(text, file: file)
        let engine = try DetectEngine(set)
        let seconds = Date().timeIntervalSince(started)
        let total = engine.rules.count + engine.problems.count
        let share = total == 0 ? 0 : Double(engine.rules.count) / Double(total) * 100
        print(String(format: "loaded %d of %d rules (%.1f %%) in %.2f s", engine.rules.count, total, share, seconds))
        var byKeyword: [String: Int] = [:]
        for problem in engine.problems { byKeyword[problem.keyword ?? "(syntax)", default: 0] += 1 }
        if !byKeyword.isEmpty {
            print("refused, by keyword:")
            for (keyword, count) in byKeyword.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }) {
                print(String(format: "  %6d  %@", count, keyword))
            }
        }
        if list { for problem in engine.problems { print("  \(problem)") } }
    }
}

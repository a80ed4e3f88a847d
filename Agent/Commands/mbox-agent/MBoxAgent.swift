import ArgumentParser

@main
struct MBoxAgent: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mbox-agent",
        abstract: "Microboxes agent: the data path of one middlebox host.",
        subcommands: [Replay.self, Run.self, RulesCommand.self])
}

/// One rule keyword: the names it answers to and how its value goes into the rule being
/// built. Each keyword's file declares its `RuleKeyword` beside the types it adds to the
/// rule and, for a keyword that tests packets, its test; `RuleKeywords.all` lists them.
struct RuleKeyword: Sendable {
    /// The spellings the keyword answers to (`http.uri`, `http_uri`).
    let names: [String]
    /// Reads the keyword's value (`name` is the spelling used) into the rule being built.
    let apply: @Sendable (inout OptionBuilder, _ name: String, _ value: String) throws -> Void

    init(_ names: [String], apply: @escaping @Sendable (inout OptionBuilder, _ name: String, _ value: String) throws -> Void) {
        self.names = names
        self.apply = apply
    }

    init(_ name: String, apply: @escaping @Sendable (inout OptionBuilder, _ name: String, _ value: String) throws -> Void) {
        self.init([name], apply: apply)
    }
}

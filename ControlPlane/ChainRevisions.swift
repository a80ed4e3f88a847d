import MBoxProto

extension Mbox_V1_ChainRevision {
    /// The revision as text to compare with another: the chain file, then its placement and
    /// rule files (by size and SHA-256) as comments. Empty after a delete.
    public var comparableLines: [String] {
        guard action != "delete" else { return [] }
        var lines = spec.yaml.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        lines.append("# placement: " + (spec.selector.isEmpty ? "(all agents)" : Labels.format(spec.selector)))
        for rules in spec.ruleSets {
            lines.append("# rule file \(rules.name): \(rules.bytes) bytes, sha256 \(rules.sha256)")
        }
        return lines
    }

    /// What changed from `previous` (nil: from nothing) to this revision.
    public func changes(since previous: Mbox_V1_ChainRevision?) -> [LineDiff.Line] {
        LineDiff.lines(from: previous?.comparableLines ?? [], to: comparableLines)
    }
}

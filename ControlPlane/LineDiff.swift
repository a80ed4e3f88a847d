/// A line-by-line difference between two texts (Swift's Myers difference), for chain
/// revisions in `mboxctl history --diff` and the web console.
public enum LineDiff {
    public enum Line: Equatable, Sendable {
        case same(String)
        case added(String)
        case removed(String)
    }

    /// Every line of `old` and `new` in order, marked kept, added or removed.
    public static func lines(from old: [String], to new: [String]) -> [Line] {
        let difference = new.difference(from: old)
        var removed = Set<Int>()
        var inserted = Set<Int>()
        for change in difference {
            switch change {
            case let .remove(offset, _, _): removed.insert(offset)
            case let .insert(offset, _, _): inserted.insert(offset)
            }
        }
        var result: [Line] = []
        var i = 0, j = 0
        while i < old.count || j < new.count {
            if i < old.count, removed.contains(i) {
                result.append(.removed(old[i])); i += 1
            } else if j < new.count, inserted.contains(j) {
                result.append(.added(new[j])); j += 1
            } else if i < old.count, j < new.count {
                result.append(.same(old[i])); i += 1; j += 1
            } else {
                break
            }
        }
        return result
    }

    /// Unified-diff text: changed lines with `context` kept lines around them, `@@` between hunks.
    public static func unified(_ lines: [Line], context: Int = 3) -> String {
        let changed = lines.indices.filter { if case .same = lines[$0] { return false } else { return true } }
        guard !changed.isEmpty else { return "" }
        var shown = Set<Int>()
        for index in changed { for near in max(0, index - context)...min(lines.count - 1, index + context) { shown.insert(near) } }
        var out: [String] = []
        var previous = -2
        for index in shown.sorted() {
            if index != previous + 1 { out.append("@@ line \(index + 1) @@") }
            previous = index
            switch lines[index] {
            case let .same(text): out.append(" " + text)
            case let .added(text): out.append("+" + text)
            case let .removed(text): out.append("-" + text)
            }
        }
        return out.joined(separator: "\n")
    }
}

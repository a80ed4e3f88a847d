import MBoxMatch
import MBoxPacket
import MBoxRules

/// Rules compiled for matching: every content and pcre of every rule goes into one
/// Hyperscan database (block mode for packets, stream mode for reassembled streams);
/// a hit only makes its rule a candidate, and the rule's positional constraints
/// (offset, depth, distance, within) are then checked against where its patterns hit.
public final class RuleEngine: @unchecked Sendable {
    public let rules: [Rule]
    /// Rules refused while parsing or compiling, with file, line and reason.
    public let problems: [RuleProblem]

    struct Item {
        var pattern: UInt32
        /// Nil for a pcre (only its end is known).
        var length: Int?
        var offset: Int?
        var depth: Int?
        var distance: Int?
        var within: Int?
        var relative: Bool
    }

    let items: [[Item]]
    /// Rule of each pattern id.
    let ruleOfPattern: [Int32]
    /// Rules without payload tests: they match on their header and flow options alone.
    let headerOnly: [Int32]
    public let blockDatabase: PatternDatabase?
    public let streamDatabase: PatternDatabase?

    /// Compiles `set`; rules whose patterns Hyperscan refuses are reported, not loaded.
    public init(_ set: RuleSet) throws {
        var problems = set.problems
        var accepted: [Rule] = []
        var items: [[Item]] = []
        var patterns: [Pattern] = []
        var ruleOfPattern: [Int32] = []
        var headerOnly: [Int32] = []
        for rule in set.rules {
            var ruleItems: [Item] = []
            var rulePatterns: [Pattern] = []
            var refused: String?
            for match in rule.payload {
                let id = UInt32(patterns.count + rulePatterns.count)
                switch match {
                case let .content(content):
                    rulePatterns.append(.literal(content.bytes, caseless: content.nocase, id: id))
                    ruleItems.append(Item(pattern: id, length: content.bytes.count, offset: content.offset,
                                          depth: content.depth, distance: content.distance, within: content.within,
                                          relative: content.isRelative))
                case let .pcre(pcre):
                    let pattern = Pattern(expression: pcre.expression, caseless: pcre.caseless, dotAll: pcre.dotAll,
                                          multiline: pcre.multiline, id: id)
                    do {
                        try PatternDatabase.validate(pattern)
                    } catch {
                        refused = "pcre /\(pcre.expression)/ is not supported by the matcher: \(error)"
                    }
                    rulePatterns.append(pattern)
                    ruleItems.append(Item(pattern: id, length: nil, relative: false))
                }
            }
            if let refused {
                problems.append(RuleProblem(file: rule.file, line: rule.line, sid: rule.sid, message: refused))
                continue
            }
            let index = Int32(accepted.count)
            accepted.append(rule)
            items.append(ruleItems)
            patterns += rulePatterns
            ruleOfPattern += Array(repeating: index, count: rulePatterns.count)
            if ruleItems.isEmpty { headerOnly.append(index) }
        }
        rules = accepted
        self.problems = problems
        self.items = items
        self.ruleOfPattern = ruleOfPattern
        self.headerOnly = headerOnly
        blockDatabase = patterns.isEmpty ? nil : try PatternDatabase(patterns, mode: .block)
        streamDatabase = patterns.isEmpty ? nil : try PatternDatabase(patterns, mode: .stream)
    }

    /// Most candidate positions tried for one rule before giving up (bounds the search).
    static let searchBudget = 4096

    /// Whether `rule`'s payload tests hold, given every hit in the inspected buffer (a
    /// packet, or a stream direction so far): each item needs a hit of its pattern whose
    /// position satisfies its offset/depth, or its distance/within from the previous
    /// item's hit. Searches with backtracking, allocation-free, within a budget.
    func payloadMatches(_ rule: Int32, hits: UnsafeBufferPointer<PatternHit>) -> Bool {
        var budget = Self.searchBudget
        return items[Int(rule)].withUnsafeBufferPointer { ruleItems in
            ruleItems.isEmpty || Self.satisfy(ruleItems, 0, after: 0, hits: hits, budget: &budget)
        }
    }

    private static func satisfy(_ items: UnsafeBufferPointer<Item>, _ index: Int, after previousEnd: Int64,
                                hits: UnsafeBufferPointer<PatternHit>, budget: inout Int) -> Bool {
        if index == items.count { return true }
        let item = items[index]
        for hit in hits where hit.id == item.pattern {
            budget -= 1
            if budget < 0 { return false }
            let end = Int64(hit.end)
            if let length = item.length {
                let start = end - Int64(length)
                if item.relative {
                    let distance = Int64(item.distance ?? 0)
                    if item.distance != nil, start < previousEnd + distance { continue }
                    if let within = item.within, end > previousEnd + distance + Int64(within) { continue }
                } else {
                    if let offset = item.offset, start < Int64(offset) { continue }
                    if let depth = item.depth, end > Int64((item.offset ?? 0) + depth) { continue }
                }
            }
            if satisfy(items, index + 1, after: end, hits: hits, budget: &budget) { return true }
        }
        return false
    }
}

@testable import MBoxDetect
import MBoxPacket
import MBoxRules
import Testing

/// The flattened headers and the address index against the rule language's own
/// `AddressSpec`/`PortSpec` (the parser's semantics), on random rules and packets.
@Suite("Rule headers, flattened and indexed")
struct HeaderMatcherTests {
    static func address(_ random: inout SplitMix) -> String {
        // A small space, so rules and packets meet often.
        random.below(5) == 0 ? "2001:db8::\(random.below(4))" : "10.\(random.below(3)).\(random.below(4)).\(random.below(8))"
    }

    static func addressPart(_ random: inout SplitMix, depth: Int = 0) -> String {
        switch random.below(depth > 0 ? 4 : 7) {
        case 0: return "any"
        case 1: return address(&random)
        case 2: return "10.\(random.below(3)).0.0/16"
        case 3: return "!" + address(&random)
        case 4: return "$HOME_NET"
        case 5: return "!$HOME_NET"
        default:
            let items = (0..<(1 + random.below(4))).map { _ in addressPart(&random, depth: depth + 1) }
            return "[" + items.joined(separator: ",") + "]"
        }
    }

    static func portPart(_ random: inout SplitMix) -> String {
        switch random.below(5) {
        case 0: return "any"
        case 1: return "\(random.below(6))"
        case 2: return "\(random.below(3)):\(3 + random.below(3))"
        case 3: return "!\(random.below(6))"
        default: return "[\(random.below(6)),!\(random.below(6)),\(random.below(3)):]"
        }
    }

    @Test("interval tables and the address index agree with AddressSpec and PortSpec")
    func modelCheck() throws {
        var random = SplitMix(state: 42)
        var text = ""
        for sid in 1...400 {
            let arrow = random.below(4) == 0 ? "<>" : "->"
            text += "alert ip \(Self.addressPart(&random)) \(Self.portPart(&random)) \(arrow) \(Self.addressPart(&random)) "
                + "\(Self.portPart(&random)) (msg:\"r\"; sid:\(sid);)\n"
        }
        let set = RuleParser().parse(text)
        let rules = set.rules
        #expect(rules.count > 300, "\(set.problems.prefix(3))")
        let matcher = HeaderMatcher(rules)
        let index = AddressIndex(rules: rules.indices.map(Int32.init), source: { IntervalSet(rules[Int($0)].source) },
                                 destination: { IntervalSet(rules[Int($0)].destination) },
                                 bidirectional: { rules[Int($0)].bidirectional })
        var checked = 0, matched = 0
        for _ in 0..<3000 {
            let source = try #require(IPAddress(Self.address(&random)))
            let destination = try #require(IPAddress(Self.address(&random)))
            let sourcePort = UInt16(random.below(6)), destinationPort = UInt16(random.below(6))
            var candidates = Set(index.unindexed)
            index.forEachCandidate(source: AddressValue(source), destination: AddressValue(destination)) { candidates.insert($0) }
            for (position, rule) in rules.enumerated() {
                let expected = rule.headerMatches(protocol: 6, source: source, sourcePort: sourcePort,
                                                  destination: destination, destinationPort: destinationPort)
                let flat = matcher.matches(position, source: AddressValue(source), sourcePort: sourcePort,
                                           destination: AddressValue(destination), destinationPort: destinationPort)
                #expect(flat == expected, "rule \(rule.sid) \(source):\(sourcePort) -> \(destination):\(destinationPort)")
                if expected {
                    #expect(candidates.contains(Int32(position)), "index misses rule \(rule.sid)")
                    matched += 1
                }
                checked += 1
            }
        }
        #expect(matched > checked / 20, "the random rules match often enough to mean something")
    }
}

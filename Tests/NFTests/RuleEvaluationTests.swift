@testable import MBoxNFs
import MBoxMatch
import MBoxRules
import Testing

/// Content positions against offset/depth/distance/within, at their exact edges (the same
/// semantics Suricata applies: depth counts from the offset; within from the previous
/// match's end plus distance).
@Suite("Rule evaluation")
struct RuleEvaluationTests {
    func matches(_ options: String, _ payload: String) throws -> Bool {
        let set = RuleParser().parse("alert tcp any any -> any any (msg:\"t\"; \(options) sid:1;)")
        try #require(set.problems.isEmpty, "\(set.problems)")
        let engine = try RuleEngine(set)
        let scanner = try Scanner(database: try #require(engine.blockDatabase))
        return Array(payload.utf8).withUnsafeBytes { bytes in
            scanner.scan(bytes)
            return engine.payloadMatches(0, hits: scanner.lastHits)
        }
    }

    @Test("offset and depth bound where a content may start and end")
    func offsetDepth() throws {
        #expect(try matches(#"content:"abc"; depth:5;"#, "xxabc"))
        #expect(try !matches(#"content:"abc"; depth:5;"#, "xxxabc"))
        #expect(try matches(#"content:"abc"; offset:2; depth:3;"#, "xxabcxx"))
        #expect(try !matches(#"content:"abc"; offset:3;"#, "xxabcxx"))
        #expect(try matches(#"content:"abc"; offset:3;"#, "xxabcxabc"))
    }

    @Test("distance and within are measured from the previous match's end")
    func distanceWithin() throws {
        #expect(try matches(#"content:"GET"; content:"/a"; distance:1; within:2;"#, "GET /a"))
        #expect(try !matches(#"content:"GET"; content:"/a"; distance:1; within:2;"#, "GET  /a"))
        #expect(try !matches(#"content:"GET"; content:"/a"; distance:2;"#, "GET /a"))
        #expect(try matches(#"content:"GET"; content:"/a"; within:4;"#, "GET /a"))
        #expect(try !matches(#"content:"GET"; content:"/a"; within:2;"#, "GET /a"))
        // A later occurrence of the first content can satisfy the second: backtracking.
        #expect(try matches(#"content:"ab"; content:"cd"; within:2;"#, "ab xx abcd"))
    }

    @Test("nocase and pcre")
    func nocaseAndPCRE() throws {
        #expect(try matches(#"content:"union select"; nocase;"#, "1 UNION SELECT 2"))
        #expect(try !matches(#"content:"union select";"#, "1 UNION SELECT 2"))
        #expect(try matches(#"pcre:"/user=\w+;/i";"#, "USER=bob; x"))
        #expect(try !matches(#"pcre:"/user=\d+;/";"#, "user=bob;"))
    }
}

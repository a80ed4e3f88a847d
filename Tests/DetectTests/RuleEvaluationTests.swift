import MBoxDetect
import MBoxPacket
import MBoxRules
import Testing

/// Payload tests at their edges, with the semantics Suricata 7 applies (checked against
/// `suricata -r` in the oracle suites): depth counts from the offset; distance/within from
/// the previous match's end; a relative content never overlaps the match before it.
@Suite("Rule evaluation")
struct RuleEvaluationTests {
    /// Whether the rule with `options` matches a TCP packet to a server carrying `payload`.
    func matches(_ options: String, _ payload: [UInt8]) throws -> Bool {
        let set = RuleParser().parse("alert tcp any any -> any any (msg:\"t\"; \(options) sid:1;)")
        try #require(set.problems.isEmpty, "\(set.problems)")
        let engine = try DetectEngine(set)
        try #require(engine.problems.isEmpty, "\(engine.problems)")
        let detector = try Detector(engine: engine, capacity: 1)
        var facts = PacketFacts()
        facts.ipProtocol = IPProtocolNumber.tcp
        facts.payloadLength = payload.count
        var matched: [Int32] = []
        payload.withUnsafeBytes { detector.inspectPayload(facts, payload: $0, stream: false, slot: 0, into: &matched) }
        return !matched.isEmpty
    }

    func matches(_ options: String, _ payload: String) throws -> Bool { try matches(options, Array(payload.utf8)) }

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
        // The second content may not overlap the first (Suricata: no alert).
        #expect(try !matches(#"content:"DullBoy"; content:"Boy"; within:3;"#, "All work and no play makes Jack a DullBoy"))
        #expect(try matches(#"content:"DullBoy"; content:"Boy"; distance:-3; within:3;"#, "a DullBoy"))
    }

    @Test("negated contents, startswith and endswith")
    func negatedAndAnchored() throws {
        #expect(try matches(#"content:"GET"; content:!"admin";"#, "GET /index"))
        #expect(try !matches(#"content:"GET"; content:!"admin";"#, "GET /admin"))
        #expect(try !matches(#"content:"GET"; content:!"x"; distance:0; within:2;"#, "GET xy"))
        #expect(try matches(#"content:"GET"; content:!"x"; distance:0; within:2;"#, "GET  x"))
        #expect(try matches(#"content:"GET"; startswith;"#, "GET /"))
        #expect(try !matches(#"content:"GET"; startswith;"#, " GET /"))
        #expect(try matches(#"content:".exe"; endswith;"#, "a.exe"))
        #expect(try !matches(#"content:".exe"; endswith;"#, "a.exe "))
    }

    @Test("nocase and pcre, relative, negated and with back-references (PCRE2)")
    func pcre() throws {
        #expect(try matches(#"content:"union select"; nocase;"#, "1 UNION SELECT 2"))
        #expect(try !matches(#"content:"union select";"#, "1 UNION SELECT 2"))
        #expect(try matches(#"pcre:"/user=\w+;/i";"#, "USER=bob; x"))
        #expect(try !matches(#"pcre:"/user=\d+;/";"#, "user=bob;"))
        #expect(try matches(#"content:"id="; pcre:"/^\d+/R";"#, "x id=42"))
        #expect(try !matches(#"content:"id="; pcre:"/^\d+/R";"#, "x id=a42"))
        #expect(try matches(#"pcre:"/(ab)c\1/";"#, "xxabcab"))
        #expect(try !matches(#"pcre:"/(ab)c\1/";"#, "xxabcba"))
        #expect(try matches(#"content:"a"; pcre:!"/zz/";"#, "abc"))
    }

    @Test("byte_test, byte_jump, byte_extract and isdataat")
    func byteKeywords() throws {
        let packet: [UInt8] = [0x00, 0x05, 0x41, 0x41, 0x41, 0x41, 0x41, 0x42, 0x43]
        #expect(try matches("byte_test:2,=,5,0;", packet))
        #expect(try !matches("byte_test:2,>,5,0;", packet))
        #expect(try matches("byte_test:2,!=,4,0;", packet))
        #expect(try matches("byte_test:2,=,0x0500,0,little;", packet))
        // Jump over the length-prefixed field: "BC" follows it.
        #expect(try matches(#"byte_jump:2,0; content:"BC"; within:2;"#, packet))
        #expect(try !matches(#"byte_jump:2,0; content:"AB"; within:2;"#, packet))
        #expect(try matches(#"byte_extract:2,0,len; content:"B"; offset:len;"#, packet))
        #expect(try matches(#"byte_extract:2,0,len; content:"AA"; offset:len;"#, packet))
        #expect(try !matches(#"byte_extract:2,0,len; content:"AAA"; offset:len;"#, packet))
        #expect(try matches(#"content:"BC"; isdataat:!1,relative;"#, packet))
        #expect(try !matches(#"content:"AB"; isdataat:!1,relative;"#, packet))
        #expect(try matches("byte_test:3,>,99,0,string,dec;", Array("123x".utf8)))
        #expect(try matches("dsize:9;", packet))
        #expect(try !matches("dsize:>9;", packet))
    }

    @Test("base64_decode feeds base64_data")
    func base64() throws {
        #expect(try matches(#"content:"auth="; base64_decode:relative; base64_data; content:"admin";"#, "auth=YWRtaW46c2VjcmV0"))
        #expect(try !matches(#"content:"auth="; base64_decode:relative; base64_data; content:"root";"#, "auth=YWRtaW46c2VjcmV0"))
    }

    @Test("many matches of one rule do not hide another's later match")
    func manyHits() throws {
        let payload = String(repeating: "foo\n", count: 300) + "bar"
        #expect(try matches(#"content:"bar";"#, payload))
        #expect(try matches(#"content:"foo"; content:"bar"; distance:0;"#, payload))
    }
}

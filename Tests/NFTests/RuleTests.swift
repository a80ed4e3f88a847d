import MBoxDetect
import MBoxNFs
import MBoxPacket
import MBoxRules
import Testing

@Suite("Suricata rules")
struct RuleTests {
    @Test("a full rule: header, options, content modifiers, pcre, flow")
    func parsesRule() throws {
        let rule = try RuleParser().parseRule(#"""
        alert tcp $EXTERNAL_NET any -> [10.0.0.0/8,!10.9.0.0/16] [80,8000:8100] (msg:"Say \"hi\"\; twice"; flow:established,to_server; content:"GET"; depth:3; content:"|2f 61|dmin"; nocase; distance:1; within:10; pcre:"/user=\w+/i"; reference:url,example.com; classtype:web-application-attack; sid:42; rev:3; metadata:created 2026;)
        """#, file: "x.rules", line: 7)
        #expect(rule.action == .alert && rule.ipProtocol == IPProtocolNumber.tcp)
        #expect(rule.message == #"Say "hi"; twice"#)
        #expect(rule.sid == 42 && rule.rev == 3 && rule.gid == 1)
        #expect(rule.category == "Web Application Attack" && rule.priority == 1)
        #expect(rule.flowDirection == .toServer && rule.established == true)
        #expect(rule.payload.count == 3)
        guard case let .content(first) = rule.payload[0], case let .content(second) = rule.payload[1],
              case let .pcre(pcre) = rule.payload[2] else { Issue.record("payload order"); return }
        #expect(first.bytes == Array("GET".utf8) && first.depth == 3 && !first.nocase)
        #expect(second.bytes == Array("/admin".utf8) && second.nocase && second.distance == 1 && second.within == 10)
        #expect(pcre.expression == #"user=\w+"# && pcre.caseless)
        #expect(rule.headerMatches(protocol: 6, source: IPAddress(8, 8, 8, 8), sourcePort: 5000,
                                   destination: IPAddress(10, 1, 2, 3), destinationPort: 8050))
        #expect(!rule.headerMatches(protocol: 6, source: IPAddress(8, 8, 8, 8), sourcePort: 5000,
                                    destination: IPAddress(10, 9, 2, 3), destinationPort: 80), "negated block")
        #expect(!rule.headerMatches(protocol: 6, source: IPAddress(192, 168, 1, 1), sourcePort: 5000,
                                    destination: IPAddress(10, 1, 2, 3), destinationPort: 80), "source is HOME_NET")
        #expect(!rule.headerMatches(protocol: 17, source: IPAddress(8, 8, 8, 8), sourcePort: 5000,
                                    destination: IPAddress(10, 1, 2, 3), destinationPort: 80))
    }

    @Test("rules that cannot be honoured are reported with file, line, sid and why — never half-loaded")
    func problems() {
        let text = """
        # comment
        alert tcp any any -> any any (msg:"ok"; content:"a"; sid:1;)
        alert tcp any any -> any any (msg:"unknown keyword"; http.nonsense; content:"a"; sid:2;)
        alert tcp any any -> any any (msg:"both ways"; flow:to_server,to_client; sid:3;)
        alert tcp any any -> any any (msg:"bad class"; content:"a"; classtype:nonsense; sid:4;)
        alert tcp any any -> any any (msg:"no sid"; content:"a";)
        alert tcp any any -> any any (msg:"dup"; content:"b"; sid:1;)
        alert tcp any any -> any any (msg:"hex"; content:"|4g|"; sid:5;)
        alert tcp any any -> any any (msg:"flag"; pcre:"/a/J"; sid:6;)
        alert tcp any any -> any any (msg:"orphan"; nocase; sid:7;)
        alert modbus any any -> any any (msg:"proto"; content:"a"; sid:8;)
        alert tcp any any -> any any (msg:"continued"; \\
          content:"x"; sid:9;)
        alert tcp any any -> any any (msg:"unterminated; sid:10;)
        alert tcp !any any -> any any (msg:"no address"; sid:11;)
        alert http any any -> any any (msg:"capital host"; http.host; content:"Example.com"; sid:12;)
        alert tcp any any -> any any (msg:"states"; flow:established,not_established; sid:13;)
        alert tcp any any -> ! any (msg:"empty negation (found by fuzzing: it crashed)"; sid:14;)
        alert tcp any any -> /8 any (msg:"no address"; sid:15;)
        """
        let set = RuleParser().parse(text, file: "bad.rules")
        #expect(set.rules.map(\.sid) == [1, 9])
        let found = set.problems.map(\.description)
        let expected = [
            "bad.rules:3: sid 2: unsupported keyword 'http.nonsense'",
            "bad.rules:4: sid 3: flow: 'to_server,to_client' names both directions",
            "bad.rules:5: sid 4: unknown classtype 'nonsense'",
            "bad.rules:6: rule has no sid",
            "bad.rules:7: sid 1: duplicate sid (first at line 2)",
            "bad.rules:8: sid 5: bad hex '4g'",
            "bad.rules:9: sid 6: pcre flag 'J' is not supported",
            "bad.rules:10: sid 7: 'nocase' must follow a content",
            "bad.rules:11: protocol 'modbus' is not supported",
            "bad.rules:14: unterminated quote in options",
            "bad.rules:15: '!any' matches no address",
            "bad.rules:16: sid 12: httpHost is lowercase",
            "bad.rules:17: sid 13: flow: 'established,not_established' contradicts itself",
            "bad.rules:18: '' is not an address",
            "bad.rules:19: '/8' is not an address",
        ]
        #expect(found.count == expected.count, "\(found)")
        for (message, prefix) in zip(found, expected) { #expect(message.hasPrefix(prefix), "\(message)") }
    }

    @Test("CRLF line endings load like LF")
    func crlf() {
        let text = "alert tcp any any -> any any (msg:\"a\"; content:\"a\"; sid:1;)\r\n"
            + "alert udp any any -> any 53 (msg:\"b\"; content:\"b\"; sid:2;)\r\n"
        let set = RuleParser().parse(text, file: "crlf.rules")
        #expect(set.problems.isEmpty, "\(set.problems)")
        #expect(set.rules.map(\.sid) == [1, 2])
    }

    @Test("Suricata 7 keywords: sticky buffers, legacy modifiers, bits, thresholds")
    func suricataKeywords() throws {
        let rule = try RuleParser().parseRule(#"""
        alert http $HOME_NET any -> $EXTERNAL_NET any (msg:"x"; flow:established,to_server; content:"Mozilla"; http_user_agent; http.method; content:"POST"; http.uri; content:"/gate.php"; endswith; fast_pattern; http.host; dotprefix; content:".evil.example"; endswith; flowbits:set,seen; flowbits:noalert; threshold:type limit, track by_src, count 1, seconds 60; xbits:set,bad,track ip_src,expire 30; urilen:>5; reference:url,example.com; metadata:created_at 2026_01_01; target:dest_ip; classtype:trojan-activity; sid:7; rev:2;)
        """#)
        #expect(rule.appProtocol == .http && rule.ipProtocol == 6)
        #expect(rule.sections.map(\.buffer) == [.httpUserAgent, .httpMethod, .httpURI, .httpHost])
        #expect(rule.sections[3].transforms == [.dotPrefix])
        #expect(rule.bits.count == 2 && rule.noAlert)
        #expect(rule.threshold == Threshold(kind: .limit, track: .bySource, count: 1, seconds: 60))
        #expect(rule.metadata == ["created_at 2026_01_01"] && rule.targetIsSource == false)
        #expect(rule.sections[2].size == NumberTest(.compare(.greater, 5)), "urilen is the size test of http.uri")
    }

    @Test("the keyword table: every name once, packet tests in rule order, one size test per buffer")
    func keywordTable() throws {
        #expect(RuleParser.keywordClashes.isEmpty, "\(RuleParser.keywordClashes)")
        for name in ["content", "ttl", "dsize", "flags", "stream_size", "urilen", "http.uri", "http_uri", "dotprefix", "pkt_data"] {
            #expect(RuleParser.keywords.contains(name), "\(name)")
        }
        let rule = try RuleParser().parseRule(#"alert ip any any -> any any (msg:"x"; ttl:<5; dsize:>10; itype:8; icode:0; flags:S,CE; stream_size:client,>,100; sid:1;)"#)
        #expect(rule.conditions == [.ttl(NumberTest(.compare(.less, 5))), .payloadSize(NumberTest(.compare(.greater, 10))),
                                    .icmpType(NumberTest(.compare(.equal, 8))), .icmpCode(NumberTest(.compare(.equal, 0))),
                                    .tcpFlags(FlagTest(mode: .exactly, flags: 0x02, ignored: 0xC0)),
                                    .streamSize(StreamSizeTest(side: .client, op: .greater, value: 100))])
        let raw = try RuleParser().parseRule(#"alert http any any -> any any (msg:"x"; urilen:5<>40,raw; sid:2;)"#)
        #expect(raw.sections.map(\.buffer) == [.httpURIRaw] && raw.sections[0].size == NumberTest(.range(5, 40)))
        let set = RuleParser().parse(#"""
        alert http any any -> any any (msg:"both"; http.uri; bsize:>3; urilen:>4; sid:3;)
        alert http any any -> any any (msg:"the same twice"; urilen:8; http.method; content:"POST"; http.uri; bsize:8; content:"/api.php"; sid:8;)
        alert http any any -> any any (msg:"long"; http.uri; content:"/a-very-long-path"; urilen:<5; sid:4;)
        alert http any any -> any any (msg:"bad"; urilen:>4,normalized; sid:5;)
        alert tcp any any -> any any (msg:"bad"; ttl:abc; sid:6;)
        """#, file: "k.rules")
        #expect(set.rules.map(\.sid) == [8], "the same size twice is one test")
        #expect(set.problems.map(\.description) == [
            "k.rules:1: sid 3: urilen after bsize on httpURI with another size: one size test per buffer is supported",
            "k.rules:3: sid 4: content length 17 exceeds urilen 4: the rule cannot match",
            "k.rules:4: sid 5: urilen: 'normalized' is not raw or norm",
            "k.rules:5: sid 6: ttl: 'abc' is not a number",
        ])
    }

    @Test("a pcre PCRE2 cannot compile is reported, the other rules load")
    func refusedPCRE() throws {
        let set = RuleParser().parse("""
        alert tcp any any -> any any (msg:"unbalanced"; pcre:"/(ab/"; sid:1;)
        alert tcp any any -> any any (msg:"fine"; pcre:"/(a)\\\\1/"; sid:2;)
        """, file: "p.rules")
        #expect(set.rules.count == 2)
        let engine = try DetectEngine(set)
        #expect(engine.rules.map(\.sid) == [2])
        #expect(engine.problems.first?.description.hasPrefix("p.rules:1: sid 1: pcre does not compile") == true)
    }
}

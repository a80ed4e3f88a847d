/// Every rule keyword the parser knows, one line per keyword file. Adding a keyword is its
/// file (parsing beside matching, as Suricata's `detect-*.c`) and its line here; a keyword
/// that tests the packet also adds its case to `PacketCondition`.
enum RuleKeywords {
    static let all: [RuleKeyword] = [
        // Identity and reporting.
        SidKeyword.keyword, MessageKeyword.keyword, RevisionKeyword.keyword, GeneratorKeyword.keyword,
        ClasstypeKeyword.keyword, PriorityKeyword.keyword, ReferenceKeyword.keyword, MetadataKeyword.keyword,
        TargetKeyword.keyword, InformationalKeywords.keyword,
        // Flow state, bits and alert rate.
        FlowKeyword.keyword, FlowbitsKeyword.flowbits, FlowbitsKeyword.xbits, NoAlertKeyword.keyword,
        ThresholdKeyword.threshold, ThresholdKeyword.detectionFilter, AppLayerProtocolKeyword.keyword,
        // Packet and flow tests (PacketCondition).
        DSizeKeyword.keyword, TTLKeyword.keyword, ICMPKeywords.itype, ICMPKeywords.icode, TCPFlagsKeyword.keyword,
        StreamSizeKeyword.keyword,
        // Buffers and their transforms.
        StickyBufferKeywords.keyword, StickyBufferKeywords.packetData, TransformKeywords.keyword, BSizeKeyword.keyword,
        URILenKeyword.keyword,
        // Payload tests, in the order inspection runs them.
        ContentKeyword.keyword, ContentKeyword.modifiers, PCREKeyword.keyword, ByteTestKeyword.keyword,
        ByteJumpKeyword.keyword, ByteExtractKeyword.keyword, IsDataAtKeyword.keyword, Base64DecodeKeyword.keyword,
    ]

    /// The keywords by each of their names.
    static let byName: [String: RuleKeyword] = {
        var table: [String: RuleKeyword] = [:]
        for keyword in all {
            for name in keyword.names { table[name] = keyword }
        }
        return table
    }()

    /// Names claimed by more than one keyword (none: a test checks it).
    static var clashingNames: [String] {
        var seen: Set<String> = [], clashes: [String] = []
        for keyword in all {
            for name in keyword.names where !seen.insert(name).inserted { clashes.append(name) }
        }
        return clashes
    }

}

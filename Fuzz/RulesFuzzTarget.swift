import MBoxDetect
import MBoxPacket
import MBoxRules

/// The rule parser and detection: rules text is loaded or refused with a reason, and what
/// loads runs over a payload (the input after the first NUL byte).
enum RulesFuzzTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let split = bytes.firstIndex(of: 0) ?? bytes.count
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<split]), as: UTF8.self)
        let set = RuleParser().parse(text, file: "fuzz.rules")
        guard set.rules.count <= 64, let engine = try? DetectEngine(set) else { return }
        for problem in engine.problems { fuzzCheck(!problem.message.isEmpty, "a rule refused without a reason") }
        guard let detector = try? Detector(engine: engine, capacity: 2) else { return }
        let payload = UnsafeRawBufferPointer(rebasing: bytes[min(split + 1, bytes.count)...])
        var matched: [Int32] = []
        for ipProtocol: UInt8 in [6, 17] {
            var facts = PacketFacts()
            facts.ipProtocol = ipProtocol
            detector.inspectPayload(facts, payload: payload, stream: ipProtocol == 6, slot: 0, into: &matched)
        }
    }
}

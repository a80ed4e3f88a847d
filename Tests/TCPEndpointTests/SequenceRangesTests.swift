@testable import MBoxTCPEndpoint
import Testing

struct SequenceRangesTests {
    @Test func insertsMergesAndForgets() {
        var ranges = SequenceRanges()
        let inserted1 = ranges.insert(100, 200); #expect(inserted1)
        let inserted2 = ranges.insert(300, 400); #expect(inserted2)
        #expect(ranges.count == 2)
        let merged = ranges.insert(200, 300); #expect(merged, "touching ranges merge")
        #expect(ranges.count == 1)
        #expect(ranges[0].start == 100 && ranges[0].end == 400)
        #expect(ranges.bytes(above: 150) == 250)
        ranges.removeBelow(250)
        #expect(ranges[0].start == 250)
        // Wrapping sequence numbers.
        var wrapped = SequenceRanges()
        let inserted3 = wrapped.insert(UInt32.max - 10, 20); #expect(inserted3)
        #expect(wrapped.range(containing: 5) != nil)
        // A full set refuses a range that needs a new slot, accepts one that merges.
        var full = SequenceRanges()
        for index in 0..<UInt32(SequenceRanges.capacity) { let inserted4 = full.insert(index * 100, index * 100 + 10); #expect(inserted4) }
        let refused = full.insert(5_000, 5_010); #expect(!refused)
        let inserted5 = full.insert(10, 20); #expect(inserted5)
        #expect(full.count == SequenceRanges.capacity)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CPCRE2
import MBoxRules

/// Runs a rule's payload tests over one buffer with Suricata's semantics: each content is
/// searched in its window (offset/depth from the buffer's start, distance/within from the
/// previous match's end), and when a later test fails the previous content or pcre is
/// tried again at its next occurrence. Bounded by a step budget; allocation-free apart
/// from `base64_decode`'s buffer, which is reused.
final class ContentInspector {
    let regexes: [Regex]
    let matcher = RegexMatcher()
    /// `byte_extract` results of the rule being inspected.
    var variables = [UInt64](repeating: 0, count: 16)
    /// What the last `base64_decode` produced (`base64_data`).
    var decoded: [UInt8] = []
    private var budget = 0
    private var minimumEnd = 0
    /// Inspections stopped by the budget (counted as no match).
    private(set) var budgetExhausted: UInt64 = 0
    static let stepBudget = 2048

    init(regexes: [Regex]) {
        self.regexes = regexes
        decoded.reserveCapacity(4096)
    }

    /// Whether `items` hold in `buffer`, with the last match ending at `minimumEnd` or later
    /// (a stream window's bytes before it were inspected already).
    func matches(_ items: UnsafeBufferPointer<CompiledItem>, in buffer: UnsafeRawBufferPointer, minimumEnd: Int) -> Bool {
        budget = Self.stepBudget
        self.minimumEnd = minimumEnd
        let result = inspect(items, 0, buffer, previousEnd: 0)
        if budget < 0 { budgetExhausted &+= 1 }
        return result
    }

    private func value(_ slot: Int, or number: Int) -> Int {
        slot >= 0 ? Int(truncatingIfNeeded: variables[slot]) : number
    }

    private func inspect(_ items: UnsafeBufferPointer<CompiledItem>, _ index: Int, _ buffer: UnsafeRawBufferPointer,
                         previousEnd: Int) -> Bool {
        if index == items.count { return previousEnd >= minimumEnd }
        budget -= 1
        if budget < 0 { return false }
        let retry = index + 1 < items.count && items[index + 1].isRelative
        switch items[index] {
        case let .content(content):
            var start: Int, end = buffer.count
            if content.startsWith {
                start = 0
                end = min(buffer.count, content.bytes.count)
            } else if content.relative {
                let base = previousEnd + value(content.distanceSlot, or: content.distance)
                start = max(0, base)
                if content.within != nil || content.withinSlot >= 0 {
                    end = min(end, base + value(content.withinSlot, or: content.within ?? 0))
                }
            } else {
                start = value(content.offsetSlot, or: content.offset)
                if content.depth != nil || content.depthSlot >= 0 {
                    end = min(end, start + value(content.depthSlot, or: content.depth ?? 0))
                }
            }
            if content.endsWith { start = max(start, end - content.bytes.count) }
            if content.negated {
                if start <= end, find(content, in: buffer, from: start, to: end) != nil { return false }
                return inspect(items, index + 1, buffer, previousEnd: previousEnd)
            }
            while start <= end, let found = find(content, in: buffer, from: start, to: end) {
                let matchEnd = found + content.bytes.count
                if !content.endsWith || matchEnd == buffer.count {
                    if inspect(items, index + 1, buffer, previousEnd: matchEnd) { return true }
                    if !retry || budget < 0 { return false }
                }
                start = found + 1
                budget -= 1
                if budget < 0 { return false }
            }
            return false
        case let .pcre(regexIndex, negated, relative):
            // A relative pcre sees the buffer from the previous match's end (so `^` anchors there).
            let base = relative ? min(previousEnd, buffer.count) : 0
            let subject = UnsafeRawBufferPointer(rebasing: buffer[base...])
            if negated {
                if matcher.firstMatch(regexes[regexIndex], in: subject, from: 0) != nil { return false }
                return inspect(items, index + 1, buffer, previousEnd: previousEnd)
            }
            var from = 0
            while from <= subject.count, let (matchStart, matchEnd) = matcher.firstMatch(regexes[regexIndex], in: subject, from: from) {
                if inspect(items, index + 1, buffer, previousEnd: base + matchEnd) { return true }
                if !retry || budget < 0 { return false }
                from = matchStart + 1
                budget -= 1
                if budget < 0 { return false }
            }
            return false
        case let .byteTest(test, offsetSlot, valueSlot):
            let position = (test.read.relative ? previousEnd : 0) + value(offsetSlot, or: test.read.offset)
            guard let read = test.read.value(in: buffer, at: position) else { return false }
            let target = valueSlot >= 0 ? variables[valueSlot] : test.value
            return test.holds(read.value, target: target) && inspect(items, index + 1, buffer, previousEnd: previousEnd)
        case let .byteJump(jump, offsetSlot):
            let position = (jump.read.relative ? previousEnd : 0) + value(offsetSlot, or: jump.read.offset)
            guard let read = jump.read.value(in: buffer, at: position),
                  let target = jump.target(after: read.value, readEnd: read.end, count: buffer.count) else { return false }
            return inspect(items, index + 1, buffer, previousEnd: target)
        case let .byteExtract(extract, offsetSlot):
            let position = (extract.read.relative ? previousEnd : 0) + value(offsetSlot, or: extract.read.offset)
            guard let read = extract.read.value(in: buffer, at: position) else { return false }
            variables[extract.slot] = extract.value(of: read.value)
            return inspect(items, index + 1, buffer, previousEnd: read.end)
        case let .isDataAt(test, slot):
            let position = (test.relative ? previousEnd : 0) + value(slot, or: test.position)
            return test.holds(at: position, count: buffer.count) && inspect(items, index + 1, buffer, previousEnd: previousEnd)
        case let .base64Decode(decode):
            let start = (decode.relative ? previousEnd : 0) + decode.offset
            decoded.removeAll(keepingCapacity: true)
            if start >= 0, start < buffer.count {
                let end = decode.bytes.map { min(buffer.count, start + $0) } ?? buffer.count
                Base64Decode.decode(UnsafeRawBufferPointer(rebasing: buffer[start..<end]), into: &decoded)
            }
            return inspect(items, index + 1, buffer, previousEnd: previousEnd)
        }
    }

    /// The first occurrence of `content` starting in `from...` and ending by `to`.
    @inline(__always)
    private func find(_ content: CompiledContent, in buffer: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        let length = content.bytes.count
        guard from >= 0, to <= buffer.count, to - from >= length, let base = buffer.baseAddress else { return nil }
        return content.bytes.withUnsafeBufferPointer { needle -> Int? in
            if !content.nocase {
                guard let hit = memmem(base + from, to - from, needle.baseAddress!, length) else { return nil }
                return base.distance(to: UnsafeRawPointer(hit))
            }
            let bytes = base.assumingMemoryBound(to: UInt8.self)
            let first = needle[0]
            var position = from
            let last = to - length
            while position <= last {
                if asciiLowercase(bytes[position]) == first {
                    var index = 1
                    while index < length, asciiLowercase(bytes[position + index]) == needle[index] { index += 1 }
                    if index == length { return position }
                }
                position += 1
            }
            return nil
        }
    }
}

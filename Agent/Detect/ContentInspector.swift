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
            guard let read = Self.read(test.read, in: buffer, at: position) else { return false }
            let target = valueSlot >= 0 ? variables[valueSlot] : test.value
            var holds = NumberTest(.compare(test.op, target)).holds(read.value)
            if test.negated { holds.toggle() }
            return holds && inspect(items, index + 1, buffer, previousEnd: previousEnd)
        case let .byteJump(jump, offsetSlot):
            let position = (jump.read.relative ? previousEnd : 0) + value(offsetSlot, or: jump.read.offset)
            guard let read = Self.read(jump.read, in: buffer, at: position) else { return false }
            var distance = Int(truncatingIfNeeded: read.value &* jump.multiplier)
            if jump.align, distance % 4 != 0 { distance += 4 - distance % 4 }
            let base = jump.fromBeginning ? 0 : jump.fromEnd ? buffer.count : read.end
            let target = base + distance + jump.postOffset
            guard target >= 0, target <= buffer.count else { return false }
            return inspect(items, index + 1, buffer, previousEnd: target)
        case let .byteExtract(extract, offsetSlot):
            let position = (extract.read.relative ? previousEnd : 0) + value(offsetSlot, or: extract.read.offset)
            guard let read = Self.read(extract.read, in: buffer, at: position) else { return false }
            var number = read.value &* extract.multiplier
            if extract.align > 1, number % UInt64(extract.align) != 0 { number += UInt64(extract.align) - number % UInt64(extract.align) }
            variables[extract.slot] = number
            return inspect(items, index + 1, buffer, previousEnd: read.end)
        case let .isDataAt(test, slot):
            // Suricata: relative, data exists when the previous match's end plus N is within
            // the buffer; absolute, when N is an offset inside it.
            let position = (test.relative ? previousEnd : 0) + value(slot, or: test.position)
            var present = test.relative ? position <= buffer.count : position >= 0 && position < buffer.count
            if test.negated { present.toggle() }
            return present && inspect(items, index + 1, buffer, previousEnd: previousEnd)
        case let .base64Decode(decode):
            let start = (decode.relative ? previousEnd : 0) + decode.offset
            decoded.removeAll(keepingCapacity: true)
            if start >= 0, start < buffer.count {
                let end = decode.bytes.map { min(buffer.count, start + $0) } ?? buffer.count
                Base64.decode(UnsafeRawBufferPointer(rebasing: buffer[start..<end]), into: &decoded)
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

    /// Reads the number `read` describes at `position`: its value (masked) and the offset past it.
    static func read(_ read: ByteRead, in buffer: UnsafeRawBufferPointer, at position: Int) -> (value: UInt64, end: Int)? {
        let end = read.count == 0 ? min(buffer.count, position + 20) : position + read.count
        guard position >= 0, end <= buffer.count else { return nil }
        var value: UInt64 = 0
        if let base = read.stringBase {
            var digits = 0
            for index in position..<end {
                let byte = buffer[index]
                let digit: UInt64
                switch byte {
                case 0x30...0x39: digit = UInt64(byte - 0x30)
                case 0x61...0x66: digit = UInt64(byte - 0x61 + 10)
                case 0x41...0x46: digit = UInt64(byte - 0x41 + 10)
                default: digit = 99
                }
                // Suricata converts the leading digits and stops at the first other byte.
                guard digit < UInt64(base) else { break }
                value = value &* UInt64(base) &+ digit
                digits += 1
            }
            guard digits > 0 else { return nil }
        } else if read.littleEndian || read.dce {
            for index in (position..<end).reversed() { value = value << 8 | UInt64(buffer[index]) }
        } else {
            for index in position..<end { value = value << 8 | UInt64(buffer[index]) }
        }
        if let mask = read.bitmask, mask != 0 {
            value = (value & mask) >> UInt64(mask.trailingZeroBitCount)
        }
        return (value, end)
    }
}

/// RFC 4648 base64 as Suricata's `base64_decode` reads it: stops at the first byte that is
/// not base64 (padding ends it too).
enum Base64 {
    static let table: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8).enumerated() {
            table[Int(byte)] = UInt8(index)
        }
        return table
    }()

    static func decode(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) {
        var accumulator: UInt32 = 0, bits = 0
        for byte in input {
            let value = table[Int(byte)]
            if value == 0xFF { break }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
    }
}

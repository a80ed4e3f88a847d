import MBoxRules

/// A content ready to search for: lowercase bytes for `nocase`, variables resolved to slots.
struct CompiledContent {
    var bytes: [UInt8]
    var nocase: Bool
    var negated: Bool
    var offset: Int
    var depth: Int?
    var distance: Int
    var within: Int?
    var relative: Bool
    var startsWith: Bool
    var endsWith: Bool
    /// Slots of `byte_extract` variables for offset, depth, distance, within (-1: none).
    var offsetSlot = -1, depthSlot = -1, distanceSlot = -1, withinSlot = -1
}

/// One payload test of a compiled section.
enum CompiledItem {
    case content(CompiledContent)
    case pcre(regex: Int, negated: Bool, relative: Bool)
    case byteTest(ByteTest, offsetSlot: Int, valueSlot: Int)
    case byteJump(ByteJump, offsetSlot: Int)
    case byteExtract(ByteExtract, offsetSlot: Int)
    case isDataAt(IsDataAt, slot: Int)
    case base64Decode(Base64Decode)

    /// Whether the item is placed after the previous match's end.
    var isRelative: Bool {
        switch self {
        case let .content(content): return content.relative
        case let .pcre(_, _, relative): return relative
        case let .byteTest(test, _, _): return test.read.relative
        case let .byteJump(jump, _): return jump.read.relative
        case let .byteExtract(extract, _): return extract.read.relative
        case let .isDataAt(test, _): return test.relative
        case let .base64Decode(decode): return decode.relative
        }
    }
}

/// A rule's tests on one buffer, compiled.
struct CompiledSection {
    var buffer: InspectionBuffer
    var transforms: [BufferTransform]
    var items: [CompiledItem]
    var size: NumberTest?
}

extension CompiledSection {
    /// Compiles `section`; regular expressions are added to `regexes`.
    init(_ section: BufferSection, variables: [String: Int], regexes: inout [Regex]) throws {
        buffer = section.buffer
        transforms = section.transforms
        size = section.size
        items = []
        func slot(_ name: String?) -> Int { name.flatMap { variables[$0] } ?? -1 }
        for match in section.matches {
            switch match {
            case let .content(content):
                var compiled = CompiledContent(
                    bytes: content.nocase ? content.bytes.map(asciiLowercase) : content.bytes, nocase: content.nocase,
                    negated: content.negated, offset: content.offset ?? 0, depth: content.depth,
                    distance: content.distance ?? 0, within: content.within, relative: content.isRelative,
                    startsWith: content.startsWith, endsWith: content.endsWith)
                compiled.offsetSlot = slot(content.variables["offset"])
                compiled.depthSlot = slot(content.variables["depth"])
                compiled.distanceSlot = slot(content.variables["distance"])
                compiled.withinSlot = slot(content.variables["within"])
                items.append(.content(compiled))
            case let .pcre(pcre):
                regexes.append(try Regex(pcre))
                items.append(.pcre(regex: regexes.count - 1, negated: pcre.negated, relative: pcre.relative))
            case let .byteTest(test):
                items.append(.byteTest(test, offsetSlot: slot(test.read.offsetVariable), valueSlot: slot(test.valueVariable)))
            case let .byteJump(jump):
                items.append(.byteJump(jump, offsetSlot: slot(jump.read.offsetVariable)))
            case let .byteExtract(extract):
                items.append(.byteExtract(extract, offsetSlot: slot(extract.read.offsetVariable)))
            case let .isDataAt(test):
                items.append(.isDataAt(test, slot: slot(test.variable)))
            case let .base64Decode(decode):
                items.append(.base64Decode(decode))
            }
        }
    }
}

@inline(__always)
func asciiLowercase(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }

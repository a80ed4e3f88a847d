import MBoxPacket

/// `flags:[+*!]FSRPAUCE0[,ignored]` — a TCP packet's flags.
enum TCPFlagsKeyword {
    static let keyword = RuleKeyword("flags") { builder, _, value in
        builder.rule.conditions.append(.tcpFlags(try parse(value)))
    }

    @inline(__always)
    static func holds(_ test: FlagTest, _ facts: PacketFacts) -> Bool {
        facts.hasPacket && facts.ipProtocol == IPProtocolNumber.tcp && test.holds(facts.tcpFlags)
    }

    static func parse(_ value: String) throws -> FlagTest {
        let items = OptionBuilder.parts(value)
        guard let first = items.first, !first.isEmpty else { throw OptionError("flags needs flags") }
        func bits(_ text: Substring) throws -> UInt8 {
            var result: UInt8 = 0
            for letter in text {
                switch letter {
                case "F": result |= 0x01
                case "S": result |= 0x02
                case "R": result |= 0x04
                case "P": result |= 0x08
                case "A": result |= 0x10
                case "U": result |= 0x20
                case "E", "2": result |= 0x40
                case "C", "1": result |= 0x80
                case "0": break
                default: throw OptionError("flags: unknown flag '\(letter)'")
                }
            }
            return result
        }
        var text = Substring(first)
        var mode = FlagTest.Mode.exactly
        if let modifier = text.first, "+*!".contains(modifier) {
            mode = modifier == "+" ? .all : modifier == "*" ? .any : .not
            text = text.dropFirst()
        } else if let modifier = text.last, "+*!".contains(modifier) {
            mode = modifier == "+" ? .all : modifier == "*" ? .any : .not
            text = text.dropLast()
        }
        var test = FlagTest(mode: mode, flags: try bits(text))
        if items.count == 2 { test.ignored = try bits(Substring(items[1])) }
        guard items.count <= 2 else { throw OptionError("flags: too many parts") }
        return test
    }
}

/// TCP flags that must (or may) be set.
public struct FlagTest: Sendable, Equatable {
    public enum Mode: Sendable { case exactly, all, any, not }
    public var mode: Mode
    public var flags: UInt8
    /// Flags ignored (`flags:S,CE` ignores CWR and ECE).
    public var ignored: UInt8 = 0

    public init(mode: Mode, flags: UInt8, ignored: UInt8 = 0) {
        self.mode = mode
        self.flags = flags
        self.ignored = ignored
    }

    @inline(__always)
    public func holds(_ value: UInt8) -> Bool {
        let seen = value & ~ignored
        switch mode {
        case .exactly: return seen == flags
        case .all: return seen & flags == flags
        case .any: return seen & flags != 0
        case .not: return seen & flags == 0
        }
    }
}

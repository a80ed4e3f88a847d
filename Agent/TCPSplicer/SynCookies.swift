import MBoxPacket

/// SYN cookies: the splicer answers a SYN without keeping anything, putting what it must
/// remember into its initial sequence number and timestamp, and checks them on the ACK
/// that completes the handshake (as Linux does: a SYN flood costs no memory).
///
/// ISN = counter (6 bits, 64-second steps) ‖ (keyed hash of the 4-tuple, client ISN and
/// counter + MSS index) mod 2²⁶. TSval (when the client sends timestamps) carries the
/// client's window scale (4 bits, 15 = none) and SACK-permitted (1 bit) in its low bits.
public struct SynCookies {
    static let mssTable: [UInt16] = [536, 1220, 1440, 1460]
    private let secret: (UInt64, UInt64)

    init() {
        var generator = SystemRandomNumberGenerator()
        secret = (generator.next(), generator.next())
    }

    /// What a valid cookie says about the client's SYN.
    public struct Facts: Equatable, Sendable {
        var mss: UInt16
        var mssIndex: UInt8
        /// 15: the client offered no window scaling.
        var windowScale: UInt8
        var sackPermitted: Bool
        var timestamps: Bool
    }

    static func mssIndex(for mss: UInt16) -> UInt8 {
        let offered = mss == 0 ? 536 : mss
        return UInt8(mssTable.lastIndex { $0 <= offered } ?? 0)
    }

    private func hash(_ headers: PacketHeaders, clientISN: UInt32, counter: UInt32) -> UInt32 {
        var hasher = Hasher()
        hasher.combine(secret.0)
        hasher.combine(headers.source)
        hasher.combine(headers.destination)
        hasher.combine(headers.sourcePort)
        hasher.combine(headers.destinationPort)
        hasher.combine(clientISN)
        hasher.combine(counter)
        hasher.combine(secret.1)
        return UInt32(truncatingIfNeeded: hasher.finalize())
    }

    /// The ISN answering the SYN in `headers` at `seconds`.
    func sequence(forSYN headers: PacketHeaders, seconds: UInt64) -> UInt32 {
        let counter = UInt32(truncatingIfNeeded: seconds / 64) & 0x3F
        let index = UInt32(Self.mssIndex(for: headers.tcpOptions.mss))
        return counter << 26 | ((hash(headers, clientISN: headers.sequence, counter: counter) &+ index) & 0x3FF_FFFF)
    }

    /// The TSval answering the SYN, carrying its options (when it sent timestamps).
    func timestamp(forSYN headers: PacketHeaders, milliseconds: UInt64) -> UInt32 {
        let scale: UInt32 = headers.tcpOptions.hasWindowScale ? UInt32(min(headers.tcpOptions.windowScale, 14)) : 15
        return UInt32(truncatingIfNeeded: milliseconds) & ~0x3F | (headers.tcpOptions.sackPermitted ? 0x10 : 0) | scale
    }

    /// The facts of the handshake the ACK in `headers` completes, nil when its cookie is
    /// not one this splicer gave in the last two counter periods.
    func check(ack headers: PacketHeaders, seconds: UInt64) -> Facts? {
        let cookie = headers.acknowledgment &- 1
        let clientISN = headers.sequence &- 1
        let now = UInt32(truncatingIfNeeded: seconds / 64) & 0x3F
        let counter = cookie >> 26
        guard counter == now || counter == (now &- 1) & 0x3F else { return nil }
        let index = ((cookie & 0x3FF_FFFF) &- hash(headers, clientISN: clientISN, counter: counter)) & 0x3FF_FFFF
        guard index < UInt32(Self.mssTable.count) else { return nil }
        var facts = Facts(mss: Self.mssTable[Int(index)], mssIndex: UInt8(index), windowScale: 15, sackPermitted: false,
                          timestamps: headers.tcpOptions.hasTimestamps)
        if headers.tcpOptions.hasTimestamps {
            facts.windowScale = UInt8(headers.tcpOptions.timestampEcho & 0xF)
            facts.sackPermitted = headers.tcpOptions.timestampEcho & 0x10 != 0
        }
        return facts
    }
}

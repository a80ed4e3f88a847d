import MBoxCapture
import MBoxPacket

/// Answers a packet a `reject` rule matched, as Suricata's reject does: a TCP packet gets
/// a RST+ACK to its sender (RFC 793 §3.4: sequence from the packet's ACK, or 0 with the
/// ACK built from its sequence when it carries none), anything else an ICMP (ICMPv6)
/// administratively-prohibited unreachable carrying its IP header and first 8 bytes.
/// A RST never answers a RST, nor an ICMP error an ICMP error.
public enum RejectResponder {
    /// Emits the answer to `packet` back toward its sender; false when none was emitted.
    @discardableResult
    public static func reject(_ packet: CapturedPacket, headers: PacketHeaders, into outbox: FrameOutbox) -> Bool {
        guard let link = LinkFraming(replyingTo: packet, headers: headers) else {
            outbox.countUnframeable()
            return false
        }
        if headers.isTCP {
            guard !headers.tcpFlags.contains(.rst) else { return false }
            var answer = EmittedSegment(source: headers.destination, destination: headers.source,
                                        sourcePort: headers.destinationPort, destinationPort: headers.sourcePort,
                                        sequence: 0, acknowledgment: 0, flags: [.rst, .ack], window: headers.window)
            let length = UInt32(truncatingIfNeeded: headers.payloadLength)
            if headers.tcpFlags.contains(.ack) {
                answer.sequence = headers.acknowledgment
                answer.acknowledgment = headers.sequence &+ length
            } else {
                answer.acknowledgment = headers.sequence &+ length &+ 1
            }
            return outbox.emit(.back) { SegmentWriter.tcp(answer, link: link, into: $0) }
        }
        let isICMPError: Bool
        switch headers.ipProtocol {
        case IPProtocolNumber.icmp: isICMPError = [3, 4, 5, 11, 12].contains(headers.icmpType)
        case IPProtocolNumber.icmpv6: isICMPError = headers.icmpType < 128
        default: isICMPError = false
        }
        guard !isICMPError else { return false }
        return outbox.emit(.back) { unreachable(packet.data, headers: headers, link: link, into: $0) }
    }

    /// Type 3 code 10 (ICMPv6: type 1 code 1) quoting the packet's IP header and 8 bytes.
    static func unreachable(_ data: UnsafeRawBufferPointer, headers: PacketHeaders, link: LinkFraming,
                            into frame: UnsafeMutableRawBufferPointer) -> Int {
        let isV4 = headers.ipVersion == 4
        let quotedHeader = headers.transportOffset - headers.networkOffset
        let quoted = min(quotedHeader + 8, headers.ipLength, data.count - headers.networkOffset)
        guard quoted > 0 else { return 0 }
        let ipHeader = isV4 ? 20 : 40
        let icmpLength = 8 + quoted
        let network = link.length
        let total = network + ipHeader + icmpLength
        guard total <= frame.count else { return 0 }
        link.write(to: frame, etherType: isV4 ? 0x0800 : 0x86DD)
        SegmentWriter.writeIP(frame, at: network, source: headers.destination, destination: headers.source,
                              ipProtocol: isV4 ? IPProtocolNumber.icmp : IPProtocolNumber.icmpv6, payloadLength: icmpLength, ttl: 64)
        let icmp = network + ipHeader
        frame[icmp] = isV4 ? 3 : 1
        frame[icmp + 1] = isV4 ? 10 : 1
        frame.storeBytes(of: UInt16(0), toByteOffset: icmp + 2, as: UInt16.self)
        frame.storeBytes(of: UInt32(0), toByteOffset: icmp + 4, as: UInt32.self)
        UnsafeMutableRawBufferPointer(rebasing: frame[(icmp + 8)..<total])
            .copyMemory(from: UnsafeRawBufferPointer(rebasing: data[headers.networkOffset..<(headers.networkOffset + quoted)]))
        if isV4 {
            let checksum = TransportChecksum.ipv4Header(UnsafeRawBufferPointer(frame), icmp..<total)
            frame.storeBytes(of: checksum.bigEndian, toByteOffset: icmp + 2, as: UInt16.self)
        } else {
            SegmentWriter.finishTransport(frame, network: network, isV4: false, transport: icmp, end: total, checksumAt: 2,
                                          ipProtocol: IPProtocolNumber.icmpv6)
        }
        return total
    }
}

import MBoxCapture
import MBoxPacket

/// IPv4 ARP over Ethernet: reading requests and replies, writing them. The agent answers
/// for the virtual addresses its stacks own and asks for the backends it connects to.
public struct ARPMessage: Sendable {
    public static let request: UInt16 = 1
    public static let reply: UInt16 = 2

    public var operation: UInt16
    public var senderMAC: MACAddress
    public var senderAddress: IPAddress
    public var targetMAC: MACAddress
    public var targetAddress: IPAddress

    public init(operation: UInt16, senderMAC: MACAddress, senderAddress: IPAddress, targetMAC: MACAddress, targetAddress: IPAddress) {
        self.operation = operation
        self.senderMAC = senderMAC
        self.senderAddress = senderAddress
        self.targetMAC = targetMAC
        self.targetAddress = targetAddress
    }

    /// The ARP message in an Ethernet frame (untagged or one VLAN tag), nil for anything else.
    public init?(frame: UnsafeRawBufferPointer) {
        guard frame.count >= 14 else { return nil }
        var offset = 12
        var etherType = frame.be16(offset)
        if etherType == 0x8100, frame.count >= 18 {
            offset += 4
            etherType = frame.be16(offset)
        }
        offset += 2
        guard etherType == 0x0806, frame.count >= offset + 28,
              frame.be16(offset) == 1, frame.be16(offset + 2) == 0x0800, frame[offset + 4] == 6, frame[offset + 5] == 4
        else { return nil }
        operation = frame.be16(offset + 6)
        senderMAC = MACAddress(frame, at: offset + 8)
        senderAddress = IPAddress(ipv4NetworkOrder: frame.loadUnaligned(fromByteOffset: offset + 14, as: UInt32.self))
        targetMAC = MACAddress(frame, at: offset + 18)
        targetAddress = IPAddress(ipv4NetworkOrder: frame.loadUnaligned(fromByteOffset: offset + 24, as: UInt32.self))
    }

    /// Writes the message in an Ethernet frame (broadcast for a request, to the target for
    /// a reply); returns the frame's length.
    public func write(into frame: UnsafeMutableRawBufferPointer) -> Int {
        guard frame.count >= 42 else { return 0 }
        let link = LinkFraming(destination: operation == Self.request ? .broadcast : targetMAC, source: senderMAC)
        let offset = link.write(to: frame, etherType: 0x0806)
        frame.storeBytes(of: UInt16(1).bigEndian, toByteOffset: offset, as: UInt16.self)
        frame.storeBytes(of: UInt16(0x0800).bigEndian, toByteOffset: offset + 2, as: UInt16.self)
        frame[offset + 4] = 6
        frame[offset + 5] = 4
        frame.storeBytes(of: operation.bigEndian, toByteOffset: offset + 6, as: UInt16.self)
        senderMAC.write(to: frame, at: offset + 8)
        frame.storeBytes(of: UInt32(truncatingIfNeeded: senderAddress.low >> 32), toByteOffset: offset + 14, as: UInt32.self)
        targetMAC.write(to: frame, at: offset + 18)
        frame.storeBytes(of: UInt32(truncatingIfNeeded: targetAddress.low >> 32), toByteOffset: offset + 24, as: UInt32.self)
        return offset + 28
    }
}

/// IPv4 address → Ethernet address, learnt from the ARP messages and IP packets that
/// cross the agent. Bounded: when full, an entry is overwritten.
public final class NeighbourTable {
    private var entries: [IPAddress: MACAddress] = [:]
    public let capacity: Int

    public init(capacity: Int = 4096) { self.capacity = capacity }

    public subscript(address: IPAddress) -> MACAddress? { entries[address] }

    /// Records that `address` is at `mac` (broadcast and zero addresses ignored).
    public func learn(_ address: IPAddress, at mac: MACAddress) {
        guard mac != .broadcast, mac != .zero, address.isIPv4, entries[address] != mac else { return }
        if entries.count >= capacity, entries[address] == nil, let victim = entries.keys.first { entries[victim] = nil }
        entries[address] = mac
    }

    public var count: Int { entries.count }
}

/// Link-layer neighbours as a μStack asks for them. The data path keeps them: it answers
/// ARP for the addresses its stacks own and learns every sender; a stack that needs an
/// address's Ethernet address looks it up or asks, and never reads ARP frames itself.
public protocol Neighbours: AnyObject {
    /// The Ethernet address of `address`, when known.
    func mac(of address: IPAddress) -> MACAddress?
    /// Records a sender seen in an IP frame.
    func learn(_ address: IPAddress, at mac: MACAddress)
    /// Asks who has `address`, from an address a stack owns, leaving by `egress`.
    func ask(for address: IPAddress, from owner: IPAddress, mac ownerMAC: MACAddress, egress: Egress)
}

import MBoxCapture
import MBoxPacket
import MBoxTransmit

/// What the data path's ARP counted.
public struct ARPCounters: Sendable {
    /// Requests for an address a stack owns, answered.
    public var answered: UInt64 = 0
    /// Requests sent for addresses stacks needed.
    public var asked: UInt64 = 0
}

/// ARP, kept by the data path for its stacks: requests for the addresses stacks own (the
/// Splicer's service addresses) are answered, every sender is learnt, and stacks ask
/// through `Neighbours` for the addresses they need. One per data path.
public final class ARPResponder: Neighbours {
    public private(set) var counters = ARPCounters()
    private let table = NeighbourTable()
    /// Addresses the stacks answer for, with the Ethernet address each answers with.
    private let owned: [(address: IPAddress, mac: MACAddress)]
    private let outbox: FrameOutbox

    public init(owned: [(address: IPAddress, mac: MACAddress)], outbox: FrameOutbox) {
        self.owned = owned
        self.outbox = outbox
    }

    /// An ARP frame: its sender is learnt, and a request for an owned address answered.
    /// `consumed`: the frame was for the agent (such a request, or a reply to an owned
    /// address) and goes no further; `learnt`: the sender's address, now known.
    public func handle(_ packet: CapturedPacket) -> (consumed: Bool, learnt: IPAddress?) {
        guard packet.linkType == .ethernet, let message = ARPMessage(frame: packet.data) else { return (false, nil) }
        table.learn(message.senderAddress, at: message.senderMAC)
        if message.operation == ARPMessage.request, let owner = owned.first(where: { $0.address == message.targetAddress }) {
            let reply = ARPMessage(operation: ARPMessage.reply, senderMAC: owner.mac, senderAddress: owner.address,
                                   targetMAC: message.senderMAC, targetAddress: message.senderAddress)
            if outbox.emit(.back, { reply.write(into: $0) }) { counters.answered &+= 1 }
            return (true, message.senderAddress)
        }
        let toUs = message.operation == ARPMessage.reply && owned.contains { $0.mac == message.targetMAC }
        return (toUs, message.senderAddress)
    }

    public func mac(of address: IPAddress) -> MACAddress? { table[address] }

    public func learn(_ address: IPAddress, at mac: MACAddress) { table.learn(address, at: mac) }

    public func ask(for address: IPAddress, from owner: IPAddress, mac ownerMAC: MACAddress, egress: Egress) {
        let request = ARPMessage(operation: ARPMessage.request, senderMAC: ownerMAC, senderAddress: owner,
                                 targetMAC: .zero, targetAddress: address)
        if outbox.emit(egress, { request.write(into: $0) }) { counters.asked &+= 1 }
    }
}

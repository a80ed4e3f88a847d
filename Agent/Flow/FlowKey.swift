import MBoxPacket

/// A bidirectional flow's 5-tuple, oriented client → server, and what it travels in (the
/// same tuple in another tunnel or VLAN is another flow).
public struct FlowKey: Equatable, Sendable, CustomStringConvertible {
    public var client: IPAddress
    public var server: IPAddress
    public var clientPort: UInt16
    public var serverPort: UInt16
    public var ipProtocol: UInt8
    /// `PacketHeaders.encapsulation`: 0 for a bare packet.
    public var encapsulation: UInt32

    public init(client: IPAddress, clientPort: UInt16, server: IPAddress, serverPort: UInt16, ipProtocol: UInt8,
                encapsulation: UInt32 = 0) {
        self.client = client
        self.server = server
        self.clientPort = clientPort
        self.serverPort = serverPort
        self.ipProtocol = ipProtocol
        self.encapsulation = encapsulation
    }

    /// A packet's 5-tuple as it travels: its source as the client.
    @inlinable @inline(__always)
    public init(sourceOf headers: UnsafePointer<PacketHeaders>) {
        self.init(client: headers.pointee.source, clientPort: headers.pointee.sourcePort, server: headers.pointee.destination,
                  serverPort: headers.pointee.destinationPort, ipProtocol: headers.pointee.ipProtocol,
                  encapsulation: headers.pointee.encapsulation)
    }

    /// The reverse direction's tuple.
    @inlinable
    public var reversed: FlowKey {
        FlowKey(client: server, clientPort: serverPort, server: client, serverPort: clientPort, ipProtocol: ipProtocol,
                encapsulation: encapsulation)
    }

    public var description: String {
        "\(client):\(clientPort) -> \(server):\(serverPort) proto \(ipProtocol)"
    }
}

/// A hash that is the same for both directions of a flow, so a flow can be found from
/// either side's packets and sharded to one worker.
public enum SymmetricFlowHash {
    @inlinable @inline(__always)
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    @inlinable @inline(__always)
    static func endpoint(_ address: IPAddress, _ port: UInt16) -> UInt64 {
        mix(address.high &* 0x9e37_79b9_7f4a_7c15 ^ address.low &* 0xc2b2_ae3d_27d4_eb4f ^ UInt64(port))
    }

    /// The flow hash of a packet's addresses and ports; equal for the reply direction.
    @inlinable @inline(__always)
    public static func hash(source: IPAddress, sourcePort: UInt16, destination: IPAddress,
                            destinationPort: UInt16, ipProtocol: UInt8) -> UInt32 {
        let combined = endpoint(source, sourcePort) &+ endpoint(destination, destinationPort)
        return UInt32(truncatingIfNeeded: mix(combined ^ UInt64(ipProtocol)) >> 16)
    }
}

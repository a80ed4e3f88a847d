import MBoxTCPEndpoint

/// One split connection: the agent's endpoint toward the client (answering for the
/// service) and its endpoint toward the backend (with the client's address), and how far
/// each byte stream has gone. A connection an NF answered itself (the TCP Endpoint) has
/// no backend.
final class ProxiedConnection {
    let clientLeg: Int32
    let backendLeg: Int32
    let flowID: UInt64
    let client: TCPConnection
    let backend: TCPConnection?
    /// Bytes of each stream NFs have seen (`ByteStreamChunk.offset`).
    var toServerOffset: UInt64 = 0
    var toClientOffset: UInt64 = 0

    init(clientLeg: Int32, backendLeg: Int32, flowID: UInt64, client: TCPConnection, backend: TCPConnection?) {
        self.clientLeg = clientLeg
        self.backendLeg = backendLeg
        self.flowID = flowID
        self.client = client
        self.backend = backend
    }

    /// The endpoint bytes of `direction` come from and the one they go to (split connections).
    func ends(_ direction: StreamDirection) -> (source: TCPConnection, destination: TCPConnection) {
        direction == .toServer ? (client, backend!) : (backend!, client)
    }

    var isFinished: Bool { client.isFinished && (backend?.isFinished ?? true) }
}

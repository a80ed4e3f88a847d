/// How the Split Proxy is set up.
public struct SplitProxyConfiguration: Sendable, Equatable {
    /// Connections proxied at once; beyond, new ones are refused with a RST each way.
    public var maximumConnections = 4096
    /// Each endpoint's send and receive buffer (four per connection).
    public var bufferSize = 256 * 1024
    /// Room kept free in a destination for what NFs insert into a chunk.
    public var insertAllowance = 8 * 1024

    public init() {}
}

/// What the Split Proxy counted.
public struct SplitProxyCounters: Sendable {
    public var connections: UInt64 = 0
    /// Connections an NF answered itself (the TCP Endpoint: no backend).
    public var answered: UInt64 = 0
    /// Bytes clients sent to an NF-answered connection after their request (no reader).
    public var bytesDiscarded: UInt64 = 0
    public var active: Int = 0
    public var finished: UInt64 = 0
    public var resets: UInt64 = 0
    /// Connections still open when their flow ended (idle, evicted, the agent stopping):
    /// reset both ways.
    public var cutOff: UInt64 = 0
    /// Connections refused (no slot left).
    public var refused: UInt64 = 0
    /// Bytes relayed each way, as sent on after NFs' edits.
    public var bytesToServer: UInt64 = 0
    public var bytesToClient: UInt64 = 0
    /// Chunks NFs changed; edits refused (overlapping, out of range, too large).
    public var chunksEdited: UInt64 = 0
    public var editsRefused: UInt64 = 0
    public init() {}
}

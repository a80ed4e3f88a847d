import CDPDK

/// The receive-side-scaling hash a NIC computes for a packet's flow (Toeplitz, as DPDK's
/// `rte_softrss`), with the key the agent gives NICs or another. With `--workers N` on a
/// NIC, a packet's queue — so its worker — follows from this hash; the agent's key is
/// symmetric, so both directions of a flow reach the same worker.
public enum RSSHash {
    /// The key `DPDKPort` sets when it starts a port with several RX queues (40 bytes on
    /// most NICs).
    public static func symmetricKey(length: Int = 40) -> [UInt8] {
        var key = [UInt8](repeating: 0, count: length)
        mbox_symmetric_rss_key(&key, UInt32(length))
        return key
    }

    /// The hash of a TCP/UDP packet from `source`:`sourcePort` to
    /// `destination`:`destinationPort` (addresses as on the wire: 4 bytes for IPv4, 16 for
    /// IPv6), with `key` (at least 4 bytes longer than the input: 16 for IPv4, 40 for
    /// IPv6). 0 when the agent was built without DPDK.
    public static func hash(source: [UInt8], sourcePort: UInt16, destination: [UInt8], destinationPort: UInt16,
                            key: [UInt8]) -> UInt32 {
        precondition(source.count == destination.count && (source.count == 4 || source.count == 16))
        var words: [UInt32] = []
        for address in [source, destination] {
            for start in stride(from: 0, to: address.count, by: 4) {
                words.append(address[start..<(start + 4)].reduce(0) { $0 << 8 | UInt32($1) })
            }
        }
        words.append(UInt32(sourcePort) << 16 | UInt32(destinationPort))
        precondition(key.count >= 4 * words.count + 4, "the key is too short for this input")
        return mbox_rss_hash(words, UInt32(words.count), key)
    }
}

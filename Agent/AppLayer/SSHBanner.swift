/// The SSH identification line (`SSH-2.0-OpenSSH_9.2p1 Debian`): protocol and software.
public struct SSHBanner {
    public var protocolVersion: [UInt8]
    public var software: [UInt8]

    public init?(_ bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= 8, let end = bytes.prefix(255).firstIndex(of: 0x0A) else { return nil }
        var line = Array(bytes[..<end])
        if line.last == 0x0D { line.removeLast() }
        guard line.starts(with: Array("SSH-".utf8)) else { return nil }
        let rest = line.dropFirst(4)
        guard let dash = rest.firstIndex(of: UInt8(ascii: "-")) else { return nil }
        protocolVersion = Array(rest[..<dash])
        let after = rest[(dash + 1)...]
        software = Array(after.prefix { $0 != 0x20 })
    }
}

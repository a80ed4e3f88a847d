import MBoxPacket

/// Tells a flow's application protocol from its first bytes in either direction, as
/// Suricata's protocol detection does: by content, not by port (DNS over UDP aside,
/// which is recognised by its port and a well-formed header).
public enum AppDetect {
    /// Request methods, as static strings: compared in place, nothing retained per flow.
    static let methods: [StaticString] = ["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
                                          "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH"]

    /// The protocol `bytes` (the first bytes of one direction of a TCP flow) show, nil when
    /// they do not tell (yet).
    public static func tcp(_ bytes: UnsafeRawBufferPointer, toServer: Bool) -> AppLayerProtocol? {
        guard !bytes.isEmpty else { return nil }
        if starts(bytes, "SSH-") { return .ssh }
        if bytes.count >= 3, bytes[0] == 0x16, bytes[1] == 0x03, bytes[2] <= 0x04 { return .tls }
        if bytes.count >= 3, bytes[0] & 0x80 != 0, bytes[2] == 0x01, toServer { return .tls }  // SSLv2 ClientHello
        if bytes.count >= 8, bytes[5] == UInt8(ascii: "S"), bytes[6] == UInt8(ascii: "M"), bytes[7] == UInt8(ascii: "B"),
           bytes[4] == 0xFF || bytes[4] == 0xFE { return .smb }
        if toServer {
            // Leading blank lines and lowercase methods are still HTTP to a server (libhtp's view).
            var start = 0
            while start < bytes.count, bytes[start] == 0x0D || bytes[start] == 0x0A || bytes[start] == 0x20 { start += 1 }
            let rest = UnsafeRawBufferPointer(rebasing: bytes[start...])
            if isMethod(rest) { return .http }
            if startsCaseless(bytes, "EHLO ") || startsCaseless(bytes, "HELO ") { return .smtp }
            if startsCaseless(bytes, "USER ") || startsCaseless(bytes, "AUTH TLS") { return .ftp }
        } else {
            if starts(bytes, "HTTP/1.") { return .http }
            if starts(bytes, "220") {
                let banner = String(decoding: bytes.prefix(256), as: UTF8.self).uppercased()
                if banner.contains("FTP") { return .ftp }
                if banner.contains("SMTP") || banner.contains("MAIL") { return .smtp }
            }
        }
        return nil
    }

    /// Whether a UDP datagram between these ports is DNS.
    public static func udp(_ bytes: UnsafeRawBufferPointer, sourcePort: UInt16, destinationPort: UInt16) -> AppLayerProtocol? {
        guard [53, 5353].contains(sourcePort) || [53, 5353].contains(destinationPort) else { return nil }
        return DNSMessage(bytes) != nil ? .dns : nil
    }

    /// Whether `bytes` start with a request method (any case) and a space.
    static func isMethod(_ bytes: UnsafeRawBufferPointer) -> Bool {
        methods.withUnsafeBufferPointer { methods in
            for method in methods {
                let count = method.utf8CodeUnitCount
                guard bytes.count > count, bytes[count] == 0x20 else { continue }
                var same = true
                for index in 0..<count where bytes[index] & 0xDF != method.utf8Start[index] {
                    same = false
                    break
                }
                if same { return true }
            }
            return false
        }
    }

    static func starts(_ bytes: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        for index in 0..<count where bytes[index] != prefix.utf8Start[index] { return false }
        return true
    }

    static func startsCaseless(_ bytes: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
        let count = prefix.utf8CodeUnitCount
        guard bytes.count >= count else { return false }
        for index in 0..<count where bytes[index] & 0xDF != prefix.utf8Start[index] & 0xDF { return false }
        return true
    }
}

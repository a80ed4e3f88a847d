/// Application protocols the agent recognises from a flow's content (not its ports), as a
/// rule header names them (`alert http …`).
public enum AppLayerProtocol: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    case http, tls, dns, smtp, ftp, ssh, smb, dcerpc, ftpData

    public var description: String {
        switch self {
        case .ftpData: return "ftp-data"
        default: return "\(name)"
        }
    }

    private var name: String {
        switch self {
        case .http: return "http"
        case .tls: return "tls"
        case .dns: return "dns"
        case .smtp: return "smtp"
        case .ftp: return "ftp"
        case .ssh: return "ssh"
        case .smb: return "smb"
        case .dcerpc: return "dcerpc"
        case .ftpData: return "ftp-data"
        }
    }

    /// The protocol a rule header names (`http`, `http1`, `tls`, `ssl`, …).
    public init?(ruleName: String) {
        switch ruleName {
        case "http", "http1": self = .http
        case "tls", "ssl": self = .tls
        case "dns": self = .dns
        case "smtp": self = .smtp
        case "ftp": self = .ftp
        case "ssh": self = .ssh
        case "smb": self = .smb
        case "dcerpc": self = .dcerpc
        case "ftp-data": self = .ftpData
        default: return nil
        }
    }

    /// Carried over UDP (DNS) as well as TCP.
    public var runsOverUDP: Bool { self == .dns }
}

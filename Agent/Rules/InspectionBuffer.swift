import MBoxPacket

/// Where a rule's payload tests look: the packet or stream payload, or an application
/// layer buffer (a "sticky buffer" such as `http.uri`). Each buffer belongs to one
/// protocol and one direction.
public enum InspectionBuffer: UInt8, Sendable, CaseIterable {
    case payload
    // HTTP requests.
    case httpURI, httpURIRaw, httpMethod, httpHost, httpHostRaw, httpUserAgent, httpRequestLine, httpRequestBody
    case httpCookie, httpReferer, httpAccept, httpAcceptEncoding, httpAcceptLanguage, httpContentLength
    case httpContentType, httpConnection, httpProtocol
    // HTTP headers of either side (the rule's direction, or the request by default).
    case httpHeader, httpHeaderRaw, httpHeaderNames, httpStart
    // HTTP responses.
    case httpStatCode, httpStatMessage, httpResponseLine, httpResponseBody, httpServer, httpLocation
    /// `file.data`: the HTTP body of the rule's direction (the response by default).
    case fileData
    // TLS.
    case tlsSNI, tlsCerts, tlsCertSubject, tlsCertIssuer, tlsCertSerial, tlsVersion, ja3Hash, ja3String, ja3sHash
    // DNS.
    case dnsQuery
    // SSH.
    case sshProto, sshSoftware
    /// `base64_data`: what the last `base64_decode` produced.
    case base64Data

    /// The protocol whose parser fills the buffer (nil: the payload, or base64 data).
    public var appProtocol: AppLayerProtocol? {
        switch self {
        case .payload, .base64Data: return nil
        case .tlsSNI, .tlsCerts, .tlsCertSubject, .tlsCertIssuer, .tlsCertSerial, .tlsVersion, .ja3Hash, .ja3String,
             .ja3sHash: return .tls
        case .dnsQuery: return .dns
        case .sshProto, .sshSoftware: return .ssh
        default: return .http
        }
    }

    /// The direction whose data fills the buffer; nil when either can (chosen by the rule).
    public var direction: RuleFlowDirection? {
        switch self {
        case .httpURI, .httpURIRaw, .httpMethod, .httpHost, .httpHostRaw, .httpUserAgent, .httpRequestLine,
             .httpRequestBody, .httpCookie, .httpReferer, .httpAccept, .httpAcceptEncoding, .httpAcceptLanguage,
             .tlsSNI, .ja3Hash, .ja3String, .dnsQuery:
            return .toServer
        case .httpStatCode, .httpStatMessage, .httpResponseLine, .httpResponseBody, .httpServer, .httpLocation,
             .tlsCerts, .tlsCertSubject, .tlsCertIssuer, .tlsCertSerial, .ja3sHash:
            return .toClient
        default:
            return nil
        }
    }

    /// Sticky-buffer keywords (Suricata 7 names and the legacy ones) and the buffer each selects.
    public static let keywords: [String: InspectionBuffer] = [
        "http.uri": .httpURI, "http_uri": .httpURI, "http.uri.raw": .httpURIRaw, "http_raw_uri": .httpURIRaw,
        "http.method": .httpMethod, "http_method": .httpMethod,
        "http.host": .httpHost, "http_host": .httpHost, "http.host.raw": .httpHostRaw, "http_raw_host": .httpHostRaw,
        "http.user_agent": .httpUserAgent, "http_user_agent": .httpUserAgent,
        "http.request_line": .httpRequestLine, "http_request_line": .httpRequestLine,
        "http.request_body": .httpRequestBody, "http_client_body": .httpRequestBody,
        "http.cookie": .httpCookie, "http_cookie": .httpCookie, "http.referer": .httpReferer,
        "http.accept": .httpAccept, "http.accept_enc": .httpAcceptEncoding, "http.accept_lang": .httpAcceptLanguage,
        "http.content_len": .httpContentLength, "http.content_type": .httpContentType,
        "http.connection": .httpConnection, "http.protocol": .httpProtocol,
        "http.header": .httpHeader, "http_header": .httpHeader, "http.header.raw": .httpHeaderRaw,
        "http_raw_header": .httpHeaderRaw, "http.header_names": .httpHeaderNames, "http.start": .httpStart,
        "http.stat_code": .httpStatCode, "http_stat_code": .httpStatCode, "http.stat_msg": .httpStatMessage,
        "http_stat_msg": .httpStatMessage, "http.response_line": .httpResponseLine,
        "http.response_body": .httpResponseBody, "http_server_body": .httpResponseBody,
        "http.server": .httpServer, "http.location": .httpLocation,
        "file.data": .fileData, "file_data": .fileData,
        "tls.sni": .tlsSNI, "tls_sni": .tlsSNI, "tls.certs": .tlsCerts, "tls.cert_subject": .tlsCertSubject,
        "tls_cert_subject": .tlsCertSubject, "tls.cert_issuer": .tlsCertIssuer, "tls_cert_issuer": .tlsCertIssuer,
        "tls.cert_serial": .tlsCertSerial, "tls_cert_serial": .tlsCertSerial, "tls.version": .tlsVersion,
        "ja3.hash": .ja3Hash, "ja3_hash": .ja3Hash, "ja3.string": .ja3String, "ja3_string": .ja3String,
        "ja3s.hash": .ja3sHash,
        "dns.query": .dnsQuery, "dns_query": .dnsQuery,
        "ssh.proto": .sshProto, "ssh_proto": .sshProto, "ssh.software": .sshSoftware, "ssh_software": .sshSoftware,
        "base64_data": .base64Data,
    ]

    /// Legacy content modifiers (`content:"x"; http_uri;`) move the content just before them
    /// into the buffer.
    public static let legacyModifiers: Set<String> = [
        "http_uri", "http_raw_uri", "http_method", "http_host", "http_raw_host", "http_user_agent", "http_client_body",
        "http_cookie", "http_header", "http_raw_header", "http_stat_code", "http_stat_msg", "http_server_body",
    ]

    /// Buffers Suricata lowercases (the host name): a content there with capitals never matches.
    public var isLowercased: Bool { self == .httpHost }
}

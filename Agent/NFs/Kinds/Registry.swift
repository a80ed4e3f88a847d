/// Every NF type a chain can name. Adding an NF: its file (the NF and its `kind`) and one
/// line here.
extension NFKind {
    public static let all: [NFKind] = [
        Firewall.kind,
        DPI.kind,
        SignatureMatch.kind,
        SignatureMatch.ipsKind,
        FlowStats.kind,
        Logger.kind,
        L7LoadBalancer.kind,
        HTTPRewriter.kind,
        HTTPCache.kind,
    ]

    /// The kind chain files call `type`.
    public static func named(_ type: String) -> NFKind? { all.first { $0.type == type } }
}

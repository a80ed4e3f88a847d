import MBoxPacket

/// `app-layer-protocol:name` — the flow's detected application protocol.
enum AppLayerProtocolKeyword {
    static let keyword = RuleKeyword("app-layer-protocol") { builder, _, value in
        guard builder.rule.appProtocol == nil, let named = AppLayerProtocol(ruleName: value) else {
            throw OptionError("app-layer-protocol '\(value)' is not supported")
        }
        builder.rule.appProtocol = named
    }
}

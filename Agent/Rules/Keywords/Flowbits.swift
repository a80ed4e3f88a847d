/// `flowbits:set|unset|toggle|isset|isnotset,name[,…]` and `xbits:…,track ip_src|ip_dst|ip_pair[,expire N]`:
/// named bits a rule sets on its flow (or host, or pair) and later rules test. The bits'
/// state lives in the detector, per worker.
enum FlowbitsKeyword {
    static let flowbits = RuleKeyword("flowbits") { builder, _, value in try parse(value, keyword: "flowbits", into: &builder.rule) }
    static let xbits = RuleKeyword("xbits") { builder, _, value in try parse(value, keyword: "xbits", into: &builder.rule) }

    static func parse(_ value: String, keyword: String, into rule: inout Rule) throws {
        let items = OptionBuilder.parts(value)
        guard let first = items.first else { throw OptionError("\(keyword) needs a command") }
        if first == "noalert", items.count == 1 {
            rule.noAlert = true
            return
        }
        guard let command = BitOperation.Command(rawValue: first) else { throw OptionError("\(keyword): unknown command '\(first)'") }
        guard items.count >= 2, !items[1].isEmpty else { throw OptionError("\(keyword): '\(first)' needs a name") }
        var operation = BitOperation(command: command, names: [items[1]])
        if items[1].contains("|") {
            operation.names = items[1].split(separator: "|").map(String.init)
            operation.anyOf = true
            guard operation.isTest else { throw OptionError("\(keyword): '|' is only for isset/isnotset") }
        } else if items[1].contains("&") {
            operation.names = items[1].split(separator: "&").map(String.init)
            guard operation.isTest else { throw OptionError("\(keyword): '&' is only for isset/isnotset") }
        }
        if keyword == "xbits" {
            operation.scope = .pair
            var tracked = false
            for option in items.dropFirst(2) {
                let words = option.split(separator: " ").map(String.init)
                switch (words.first ?? "", words.count) {
                case ("track", 2):
                    switch words[1] {
                    case "ip_src": operation.scope = .source
                    case "ip_dst": operation.scope = .destination
                    case "ip_pair": operation.scope = .pair
                    default: throw OptionError("xbits: track '\(words[1])' is not ip_src, ip_dst or ip_pair")
                    }
                    tracked = true
                case ("expire", 2):
                    guard let seconds = UInt32(words[1]) else { throw OptionError("xbits: bad expire '\(words[1])'") }
                    operation.expire = seconds
                default:
                    throw OptionError("xbits: unknown option '\(option)'")
                }
            }
            guard tracked else { throw OptionError("xbits needs 'track ip_src|ip_dst|ip_pair'") }
        } else if items.count > 2 {
            throw OptionError("flowbits: unexpected '\(items[2])'")
        }
        rule.bits.append(operation)
    }
}

/// `noalert`: the rule matches (and sets its bits) without raising an alert.
enum NoAlertKeyword {
    static let keyword = RuleKeyword("noalert") { builder, _, _ in builder.rule.noAlert = true }
}

/// `threshold:type limit|threshold|both, track by_src|…, count N, seconds N` and
/// `detection_filter:track …, count N, seconds N` (also read from threshold.config).
enum ThresholdKeyword {
    static let threshold = RuleKeyword("threshold") { builder, name, value in
        guard builder.rule.threshold == nil else { throw OptionError("two thresholds") }
        builder.rule.threshold = try parse(value, keyword: name)
    }
    static let detectionFilter = RuleKeyword("detection_filter") { builder, name, value in
        guard builder.rule.detectionFilter == nil else { throw OptionError("two detection_filters") }
        builder.rule.detectionFilter = try parse("type detection_filter, " + value, keyword: name)
    }

    /// `type …, track …, count N, seconds N`.
    static func parse(_ value: String, keyword: String) throws -> Threshold {
        var kind: Threshold.Kind?, track: Threshold.Track?, count: UInt32?, seconds: UInt32?
        for option in OptionBuilder.parts(value) {
            let words = option.split(separator: " ").map(String.init)
            guard words.count == 2 else { throw OptionError("\(keyword): '\(option)' is not 'name value'") }
            switch words[0] {
            case "type": kind = Threshold.Kind(rawValue: words[1])
            case "track": track = Threshold.Track(rawValue: words[1])
            case "count": count = UInt32(words[1])
            case "seconds": seconds = UInt32(words[1])
            default: throw OptionError("\(keyword): unknown option '\(words[0])'")
            }
        }
        guard let kind, let track, let count, let seconds else {
            throw OptionError("\(keyword) needs type, track, count and seconds, each valid")
        }
        return Threshold(kind: kind, track: track, count: count, seconds: seconds)
    }
}

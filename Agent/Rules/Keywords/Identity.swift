// The keywords that name and describe a rule rather than test traffic: `sid`, `msg`,
// `rev`, `gid`, `classtype`, `priority`, `reference`, `metadata`, `target`, and those
// read for information only.

/// `sid:N` — read before the other options (so their errors can name it).
enum SidKeyword {
    static let keyword = RuleKeyword("sid") { _, _, _ in }
}

/// `msg:"text"` — the alert's signature text.
enum MessageKeyword {
    static let keyword = RuleKeyword("msg") { builder, _, value in
        builder.rule.message = builder.parser.unquote(value)
    }
}

/// `rev:N`.
enum RevisionKeyword {
    static let keyword = RuleKeyword("rev") { builder, _, value in
        guard let rev = UInt32(value) else { throw OptionError("rev '\(value)' is not a number") }
        builder.rule.rev = rev
    }
}

/// `gid:N`.
enum GeneratorKeyword {
    static let keyword = RuleKeyword("gid") { builder, _, value in
        guard let gid = UInt32(value) else { throw OptionError("gid '\(value)' is not a number") }
        builder.rule.gid = gid
    }
}

/// `classtype:name` — EVE's `category` and, unless `priority` names one, the severity.
enum ClasstypeKeyword {
    static let keyword = RuleKeyword("classtype") { builder, _, value in
        guard let (category, priority) = Classification.defaults[value] else {
            throw OptionError("unknown classtype '\(value)'")
        }
        let explicitPriority = builder.rule.classtype == nil && builder.rule.priority != 3
        builder.rule.classtype = value
        builder.rule.category = category
        if !explicitPriority { builder.rule.priority = priority }
    }
}

/// `priority:1–255` — overrides the classtype's.
enum PriorityKeyword {
    static let keyword = RuleKeyword("priority") { builder, _, value in
        guard let priority = Int(value), (1...255).contains(priority) else {
            throw OptionError("priority '\(value)' is not 1–255")
        }
        builder.rule.priority = priority
    }
}

/// `reference:type,id`.
enum ReferenceKeyword {
    static let keyword = RuleKeyword("reference") { builder, _, value in
        builder.rule.references.append(value)
    }
}

/// `metadata:key value, …`.
enum MetadataKeyword {
    static let keyword = RuleKeyword("metadata") { builder, _, value in
        builder.rule.metadata += OptionBuilder.parts(value).filter { !$0.isEmpty }
    }
}

/// `target:src_ip|dest_ip` — which end EVE names as the target.
enum TargetKeyword {
    static let keyword = RuleKeyword("target") { builder, _, value in
        switch value {
        case "src_ip": builder.rule.targetIsSource = true
        case "dest_ip": builder.rule.targetIsSource = false
        default: throw OptionError("target is src_ip or dest_ip, not '\(value)'")
        }
    }
}

/// Keywords that change nothing the agent inspects: `rawbytes` (payloads are inspected
/// raw already), `tag` (no tagging of later packets), `requires`.
enum InformationalKeywords {
    static let keyword = RuleKeyword(["rawbytes", "tag", "requires"]) { _, _, _ in }
}

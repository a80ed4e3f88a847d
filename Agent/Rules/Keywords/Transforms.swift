/// Transforms applied to a sticky buffer before its tests (`http.host; dotprefix;`).
/// Their work is `Transforms.apply` in the detection engine.
enum TransformKeywords {
    /// The transforms the engine applies; the others are refused by name.
    static let supported: [BufferTransform] = [.dotPrefix, .stripWhitespace, .compressWhitespace, .toLowercase, .toUppercase,
                                                .urlDecode, .toMD5, .toSHA1, .toSHA256, .headerLowercase]

    static let keyword = RuleKeyword(BufferTransform.allCases.map(\.rawValue)) { builder, name, _ in
        let index = try builder.stickyBuffer(for: "transform '\(name)'")
        let transform = BufferTransform(rawValue: name)!
        guard supported.contains(transform) else { throw OptionError("transform '\(name)' is not supported") }
        guard builder.rule.sections[index].matches.isEmpty else {
            throw OptionError("transform '\(name)' must come before the buffer's content")
        }
        builder.rule.sections[index].transforms.append(transform)
    }
}

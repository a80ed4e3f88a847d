import MBoxChain

/// Chain files: any text is a chain or a list of errors with their line and column. Only
/// parsed and compiled — the NFs are not made, so nothing the text names is opened for writing.
enum ChainFuzzTarget {
    static func run(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            let definition = try ChainParser().parse(text, file: "/nonexistent/fuzz.yaml")
            _ = try ChainCompiler().compile(definition, resources: BuildResources())
        } catch {
            fuzzCheck(!"\(error)".isEmpty, "a chain refused without a reason")
        }
    }
}

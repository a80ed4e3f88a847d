import Foundation
import Testing

/// The fuzz targets' committed corpora (seeds and every input a fuzzing run found worth
/// keeping, crashes fixed included) replayed through the plainly built `mbox-fuzz`: each
/// target takes each input without a crash or a failed check.
@Suite("Fuzz corpora replayed")
struct FuzzCorpusTests {
    @Test("every committed input of every target", arguments: ["capture", "packet-path", "rules", "chain", "app-layer", "tcp-endpoint", "agent"])
    func replay(target: String) throws {
        let fuzz = try #require(builtCommand("mbox-fuzz"), "run `swift build` first: the tests call the built command")
        let corpus = packageRoot + "/Fuzz/corpus/" + target
        let inputs = try FileManager.default.contentsOfDirectory(atPath: corpus)
        #expect(inputs.count >= 2, "the corpus has seeds")
        let result = try run([fuzz, target, corpus])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(String(decoding: result.stdout, as: UTF8.self).contains("\(target): \(inputs.count) inputs replayed"))
    }
}

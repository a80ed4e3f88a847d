import Foundation
import MBoxCapture
import MBoxConcurrency
import Testing

@Suite("A file written by a thread of its own")
struct FileSinkTests {
    @Test("four producers write 40,000 lines each at once: every line whole, each producer's in its order, none lost")
    func producersKeepOrder() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.file("lines.txt")
        let sink = FileSink(handle: try OutputFile.open(path), path: path)
        let perProducer = 40_000
        DispatchQueue.concurrentPerform(iterations: 4) { producerIndex in
            let producer = sink.producer(batches: 8)  // small: full rings must keep batches, not lose them
            for line in 0..<perProducer {
                producer.append(contentsOf: "p\(producerIndex) \(line) \(String(repeating: "x", count: line % 97))\n".utf8)
                if line % 64 == 0 { producer.submit() }
            }
            while !producer.pending.isEmpty { producer.submit() }
        }
        try sink.flush()
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var next = [Int](repeating: 0, count: 4)
        var malformed = 0
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, let producer = Int(parts[0].dropFirst()), let index = Int(parts[1]),
                  parts[2].count == index % 97, next.indices.contains(producer), next[producer] == index else {
                malformed += 1
                continue
            }
            next[producer] += 1
        }
        #expect(malformed == 0)
        #expect(next == [perProducer, perProducer, perProducer, perProducer])
        #expect(sink.bytesDropped == 0)
        #expect(sink.bytesWritten == UInt64(text.utf8.count))
    }

    @Test("a write that fails (a full disk: /dev/full) is reported by flush, with the path")
    func failureReported() throws {
        let sink = FileSink(handle: try OutputFile.open("/dev/full"), path: "/dev/full")
        let producer = sink.producer()
        producer.append(contentsOf: "line\n".utf8)
        producer.submit()
        #expect(throws: FileSink.OutputFailure.self) { try sink.flush() }
        #expect(sink.bytesWritten == 0)
    }
}

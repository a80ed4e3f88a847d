// mbox-fuzz TARGET [arguments]: one entry point for every fuzz target.
//
// Built with libFuzzer (scripts/fuzz.sh passes -DMBOX_LIBFUZZER and links libFuzzer), the
// arguments are libFuzzer's: a corpus directory, -max_total_time=…, a crash file to replay.
// Built plainly, it replays the files and directories given through the target once each —
// how CI runs the committed corpora as regression tests under AddressSanitizer.
#if canImport(Glibc)
import Glibc
#endif
import Foundation

// libFuzzer re-runs this program for -merge and -fork without the target's name, so the
// name also travels in the environment.
var arguments = CommandLine.arguments
if arguments.count >= 2, FuzzTargets.named(arguments[1]) != nil {
    setenv("MBOX_FUZZ_TARGET", arguments[1], 1)
    arguments.remove(at: 1)
}
let targetName = ProcessInfo.processInfo.environment["MBOX_FUZZ_TARGET"] ?? ""
guard let target = FuzzTargets.named(targetName) else {
    FileHandle.standardError.write(Data("usage: mbox-fuzz TARGET [corpus|file|libFuzzer options]…\ntargets: \(FuzzTargets.names.joined(separator: ", "))\n".utf8))
    exit(2)
}
FuzzTargets.selected = target

#if MBOX_LIBFUZZER
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> CInt

var driverArguments = arguments
var cArguments = driverArguments.map { strdup($0) } + [nil]
var count = CInt(driverArguments.count)
let status = cArguments.withUnsafeMutableBufferPointer { buffer -> CInt in
    var pointer = buffer.baseAddress!
    return LLVMFuzzerRunDriver(&count, &pointer) { data, size in
        FuzzTargets.selected(UnsafeRawBufferPointer(start: data, count: size))
        return 0
    }
}
exit(status)
#else
var inputs: [String] = []
for path in arguments.dropFirst() where !path.hasPrefix("-") {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        FileHandle.standardError.write(Data("mbox-fuzz: no such file or directory: \(path)\n".utf8))
        exit(1)
    }
    if isDirectory.boolValue {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        inputs += names.sorted().map { path + "/" + $0 }
    } else {
        inputs.append(path)
    }
}
for input in inputs {
    guard let data = FileManager.default.contents(atPath: input) else { continue }
    data.withUnsafeBytes { FuzzTargets.selected($0) }
}
print("\(targetName): \(inputs.count) inputs replayed")
#endif

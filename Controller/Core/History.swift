import Crypto
import Foundation
import MBoxProto

/// One agent's statistics at one moment, as stored for the console's charts.
public struct AgentSampleRow: Sendable {
    public var agent: String
    public var sample: Mbox_V1_AgentSample

    public init(agent: String, sample: Mbox_V1_AgentSample) {
        self.agent = agent
        self.sample = sample
    }
}

/// A console token as stored: its SHA-256, whom it acts for, until when.
public struct ConsoleTokenRecord: Sendable, Equatable {
    /// SHA-256 of the token (hex).
    public var hash: String
    public var `operator`: String
    public var certificateSha256: String
    public var expiresMs: Int64

    public init(hash: String, operator: String, certificateSha256: String, expiresMs: Int64) {
        self.hash = hash
        self.operator = `operator`
        self.certificateSha256 = certificateSha256
        self.expiresMs = expiresMs
    }

    /// SHA-256 of `token`, in hex: what the store keeps and looks up.
    public static func hash(of token: String) -> String {
        sha256Hex(Data(token.utf8))
    }
}

/// How much history the controller keeps for the console, and how often it samples.
public enum HistoryPolicy {
    /// An agent's statistics are stored at most this often (agents report every 2 s).
    public static let sampleIntervalMs: Int64 = 10_000
    /// Samples are kept this long (the console charts the last hour).
    public static let sampleRetentionMs: Int64 = 6 * 3_600_000
    /// Console tokens live this long unless asked otherwise, and at most `maximumTokenSeconds`.
    public static let defaultTokenSeconds: UInt32 = 12 * 3600
    public static let maximumTokenSeconds: UInt32 = 7 * 86_400
}

extension Mbox_V1_ChainSpec {
    /// The spec as a revision keeps it: rule files by name, size and SHA-256, without text.
    public var summarized: Mbox_V1_ChainSpec {
        var spec = self
        for index in spec.ruleSets.indices {
            let text = spec.ruleSets[index].text
            spec.ruleSets[index].bytes = UInt64(text.utf8.count)
            spec.ruleSets[index].sha256 = sha256Hex(Data(text.utf8))
            spec.ruleSets[index].text = ""
        }
        return spec
    }
}

/// SHA-256 of `bytes`, in lower-case hex (certificate fingerprints, token hashes, rule files).
func sha256Hex(_ bytes: some DataProtocol) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var hex: [UInt8] = []
    hex.reserveCapacity(64)
    for byte in SHA256.hash(data: bytes) {
        hex.append(digits[Int(byte >> 4)])
        hex.append(digits[Int(byte & 15)])
    }
    return String(decoding: hex, as: UTF8.self)
}

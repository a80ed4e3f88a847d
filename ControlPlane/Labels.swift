/// Agent labels as written on command lines: `k=v,k=v`.
public enum Labels {
    public static func parse(_ text: String) throws -> [String: String] {
        var labels: [String: String] = [:]
        for pair in text.split(separator: ",") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty else { throw PKIError("'\(pair)' is not key=value") }
            labels[String(parts[0])] = String(parts[1])
        }
        return labels
    }

    public static func format(_ labels: [String: String]) -> String {
        labels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }
}

/// Ages and durations as operators read and write them in `mboxctl` and the console.
public enum Age {
    /// How long ago: 45s, 12m, 3h, 2d.
    public static func text(milliseconds: Int64) -> String {
        let seconds = max(0, milliseconds / 1000)
        if seconds < 120 { return "\(seconds)s" }
        if seconds < 7200 { return "\(seconds / 60)m" }
        if seconds < 172_800 { return "\(seconds / 3600)h" }
        return "\(seconds / 86400)d"
    }

    /// A duration as operators write it — 30s, 10m, 2h, 1d (fractions allowed) — in
    /// seconds; nil for anything else.
    public static func seconds(_ text: String) -> Double? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        guard let unit = text.last.flatMap({ units[$0] }), let amount = Double(text.dropLast()), amount >= 0, amount.isFinite else {
            return nil
        }
        return amount * unit
    }
}

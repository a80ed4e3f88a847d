import Foundation
import MBoxControlPlane
import MBoxProto

/// Server-drawn SVG line charts of a counter's rate between consecutive samples.
enum Chart {
    static let width = 720.0
    static let height = 160.0

    /// `counter`'s increase per second between samples, over the samples' time span.
    static func rate(id: String, title: String, _ samples: [Mbox_V1_AgentSample], until now: Int64,
                     _ counter: (Mbox_V1_AgentStats) -> UInt64) -> String {
        var points: [(Int64, Double)] = []
        for (previous, sample) in zip(samples, samples.dropFirst()) {
            let seconds = Double(sample.timeUnixMs - previous.timeUnixMs) / 1000
            let before = counter(previous.stats), after = counter(sample.stats)
            // A restarted agent counts from zero again: no negative rate.
            guard seconds > 0, after >= before else { continue }
            points.append((sample.timeUnixMs, Double(after - before) / seconds))
        }
        return draw(id: id, title: title, points, from: now - 3_600_000, to: now)
    }

    static func rate(id: String, title: String, _ samples: [Mbox_V1_AgentSample], until now: Int64,
                     _ counter: KeyPath<Mbox_V1_AgentStats, UInt64>) -> String {
        rate(id: id, title: title, samples, until: now) { $0[keyPath: counter] }
    }

    /// `points` (time in ms, value) over the window `from`...`to`.
    static func draw(id: String, title: String, _ points: [(Int64, Double)], from: Int64, to: Int64) -> String {
        let caption = "<figcaption>\(HTML.escape(title))</figcaption>"
        guard let last = points.last else {
            return "<figure class=\"chart\" id=\"\(id)\">\(caption)<p class=\"empty\">Too few samples in the last hour for a rate.</p></figure>"
        }
        let peak = max(points.map(\.1).max() ?? 0, 1)
        let span = Double(max(to - from, 1))
        let left = 60.0, bottom = height - 20
        func position(_ time: Int64, _ value: Double) -> (Int, Int) {
            let x = left + Double(time - from) / span * (width - left - 10)
            let y = bottom - value / peak * (bottom - 10)
            return (Int(x.rounded()), Int(y.rounded()))
        }
        let coordinates = points.map { position($0.0, $0.1) }.map { "\($0.0),\($0.1)" }.joined(separator: " ")
        let end = position(last.0, last.1)
        let latest = points.last.map { format($0.1) } ?? "0"
        return """
            <figure class="chart" id="\(id)">\(caption)
            <svg viewBox="0 0 \(Int(width)) \(Int(height))" width="\(Int(width))" height="\(Int(height))" role="img" aria-label="\(HTML.escape(title))">
            <line class="axis" x1="\(Int(left))" y1="\(Int(bottom))" x2="\(Int(width - 10))" y2="\(Int(bottom))"/>
            <line class="axis" x1="\(Int(left))" y1="10" x2="\(Int(left))" y2="\(Int(bottom))"/>
            <text x="4" y="16">\(format(peak))</text><text x="4" y="\(Int(bottom))">0</text>
            <text x="\(Int(left))" y="\(Int(height - 4))">\(HTML.escape(EVE.timestamp(from * 1000).prefix(19).description)) UTC</text>
            <text x="\(Int(width - 200))" y="\(Int(height - 4))">now: \(latest)/s</text>
            <polyline class="series" points="\(coordinates)" data-points="\(points.count)"/>
            <circle class="latest" cx="\(end.0)" cy="\(end.1)" r="3"/>
            </svg></figure>
            """
    }

    static func format(_ value: Double) -> String {
        if value >= 1_000_000 { return String(format: "%.1fM", value / 1_000_000) }
        if value >= 1000 { return String(format: "%.1fk", value / 1000) }
        return value < 10 ? String(format: "%.2f", value) : String(Int(value.rounded()))
    }
}

import NIOHTTP1

/// What a console route answers: a page, a redirect, or a stream of server-sent events.
public struct ConsoleResponse: Sendable {
    public enum Body: Sendable {
        case text(String)
        /// Server-sent events: each element is written as it comes; the response ends with the stream.
        case events(AsyncStream<String>)
    }

    public var status: HTTPResponseStatus
    public var headers: [(String, String)]
    public var body: Body

    public init(status: HTTPResponseStatus = .ok, contentType: String = "text/html; charset=utf-8", body: Body) {
        self.status = status
        self.headers = [("Content-Type", contentType)]
        self.body = body
    }

    public static func page(_ html: String, status: HTTPResponseStatus = .ok) -> ConsoleResponse {
        ConsoleResponse(status: status, body: .text(html))
    }

    public static func redirect(to location: String, setting cookie: String? = nil) -> ConsoleResponse {
        var response = ConsoleResponse(status: .seeOther, contentType: "text/plain; charset=utf-8", body: .text("see \(location)\n"))
        response.headers.append(("Location", location))
        if let cookie { response.headers.append(("Set-Cookie", cookie)) }
        return response
    }

    /// A plain page saying what went wrong (no detail an attacker could use beyond it).
    public static func problem(_ status: HTTPResponseStatus, _ title: String, _ detail: String) -> ConsoleResponse {
        .page(HTML.layout(title: title, body: "<h1>\(HTML.escape(title))</h1><p>\(HTML.escape(detail))</p>"), status: status)
    }
}

/// HTML pieces every page uses: escaping, the layout around a page, tables.
public enum HTML {
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// `text` made safe inside a URL's path segment or query value.
    public static func urlComponent(_ text: String) -> String {
        var allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
        allowed.remove(UInt8(ascii: "/"))
        var out = ""
        for byte in text.utf8 {
            if allowed.contains(byte) { out.append(Character(Unicode.Scalar(byte))) } else {
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 15, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// The page frame: navigation, the operator's name, the content.
    public static func layout(title: String, operator name: String? = nil, current: String = "", body: String) -> String {
        let links = [("/", "Fleet"), ("/chains", "Chains"), ("/alerts", "Alerts")].map { path, label in
            "<a href=\"\(path)\"\(path == current ? " class=\"current\"" : "")>\(label)</a>"
        }.joined()
        let who = name.map { "<span class=\"who\">operator \(escape($0))</span>" } ?? ""
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>\(escape(title)) · mbox console</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <link rel="stylesheet" href="/static/console.css"><script src="/static/console.js" defer></script></head>
            <body><header><span class="brand">Microboxes</span><nav>\(links)</nav>\(who)</header>
            <main>\(body)</main></body></html>
            """
    }

    /// A table with a header row; cells are already HTML. `id` names it for scripts and tests.
    public static func table(id: String, _ header: [String], _ rows: [[String]], rowAttributes: [String]? = nil) -> String {
        let head = header.map { "<th>\(escape($0))</th>" }.joined()
        let body = rows.enumerated().map { index, row in
            "<tr\(rowAttributes.map { " " + $0[index] } ?? "")>" + row.map { "<td>\($0)</td>" }.joined() + "</tr>"
        }.joined(separator: "\n")
        return "<table id=\"\(id)\"><thead><tr>\(head)</tr></thead><tbody>\n\(body)\n</tbody></table>"
    }
}

import Foundation
import MBoxControllerCore
import NIOHTTP1

/// Routes a request to its page, after checking that it carries a console token (the
/// `mbox_console` cookie set at `/login`, or `Authorization: Bearer`).
struct ConsoleRouter: Sendable {
    let controller: Controller
    let sessions: ConsoleSessions

    static let cookie = "mbox_console"

    init(controller: Controller) {
        self.controller = controller
        sessions = ConsoleSessions(controller: controller)
    }

    func respond(to head: HTTPRequestHead) async -> ConsoleResponse {
        let request = ConsoleRequest(head)
        guard head.method == .GET || head.method == .HEAD else {
            return .problem(.methodNotAllowed, "Read only", "The console only reads: use mboxctl to change the fleet.")
        }
        switch request.path.first {
        case "static": return Assets.response(for: request.path.dropFirst().joined(separator: "/"))
        case "login": return await login(request)
        case "logout":
            return .redirect(to: "/signed-out", setting: "\(Self.cookie)=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
        case "signed-out": return .page(SignInPage.render(message: "Signed out."))
        default: break
        }
        let session: ConsoleTokenRecord
        switch await sessions.session(for: request.token) {
        case let .signedIn(record): session = record
        case let .refused(response): return response
        }
        let pages = ConsolePages(controller: controller, operator: session.operator)
        do {
            switch (request.path.first, request.path.count) {
            case (nil, _): return try await pages.fleet()
            case ("chains", 1): return try await pages.chains()
            case ("chains", 2): return try await pages.chain(named: request.path[1], revision: request.query["revision"].flatMap { UInt64($0) })
            case ("alerts", 1): return try await pages.alerts(request.query)
            case ("alerts", 2) where request.path[1] == "stream": return try await pages.alertStream(request.query)
            case ("agents", 2): return try await pages.agent(named: request.path[1])
            default: return .problem(.notFound, "Not found", "No page at \(request.path.joined(separator: "/")).")
            }
        } catch let error as ConsoleInputError {
            return .problem(.badRequest, "Bad request", error.description)
        } catch {
            return .problem(.internalServerError, "The controller could not answer", "\(error)")
        }
    }

    /// `/login?token=T[&next=/path]`: a valid token becomes a cookie (so it leaves the address
    /// bar) and the browser goes on to `next` (a path on this console) or the fleet.
    private func login(_ request: ConsoleRequest) async -> ConsoleResponse {
        let token = request.query["token"]
        let session: ConsoleTokenRecord
        switch await sessions.session(for: token) {
        case let .signedIn(record): session = record
        case let .refused(response): return response
        }
        let seconds = max(0, (session.expiresMs - Int64(Date().timeIntervalSince1970 * 1000)) / 1000)
        var next = request.query["next"] ?? "/"
        if !next.hasPrefix("/") || next.hasPrefix("//") || next.contains("\\") || next.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            next = "/"
        }
        return .redirect(to: next, setting: "\(Self.cookie)=\(token ?? ""); Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=\(seconds)")
    }
}

/// A request's path segments (decoded), query values and token.
struct ConsoleRequest {
    var path: [String]
    var query: [String: String] = [:]
    var token: String?

    init(_ head: HTTPRequestHead) {
        let components = URLComponents(string: head.uri)
        path = (components?.path ?? "/").split(separator: "/").map { String($0).removingPercentEncoding ?? String($0) }
        for item in components?.queryItems ?? [] where !(item.value ?? "").isEmpty { query[item.name] = item.value }
        if let authorization = head.headers.first(name: "Authorization"), authorization.hasPrefix("Bearer ") {
            token = String(authorization.dropFirst(7))
        }
        for header in head.headers[canonicalForm: "Cookie"] {
            for pair in header.split(separator: ";") {
                let parts = pair.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0] == ConsoleRouter.cookie { token = String(parts[1]) }
            }
        }
    }
}

/// A filter or parameter the console cannot read, in words for the operator.
struct ConsoleInputError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Tokens checked against the store, remembered for 30 s (a page load makes several requests).
actor ConsoleSessions {
    enum Outcome: Sendable {
        case signedIn(ConsoleTokenRecord)
        /// The sign-in page (no token, or an unknown or expired one), or why the store could not say.
        case refused(ConsoleResponse)
    }

    private let controller: Controller
    private var known: [String: (ConsoleTokenRecord, ContinuousClock.Instant)] = [:]

    init(controller: Controller) { self.controller = controller }

    func session(for token: String?) async -> Outcome {
        guard let token else { return .refused(.page(SignInPage.render(message: nil), status: .unauthorized)) }
        let now = ContinuousClock.now
        let nowMs = Int64(Date().timeIntervalSince1970 * 1000)
        if let (record, checked) = known[token], now - checked < .seconds(30), record.expiresMs > nowMs { return .signedIn(record) }
        if known.count > 10_000 { known.removeAll() }
        do {
            guard let record = try await controller.consoleSession(token: token) else {
                known[token] = nil
                return .refused(.page(SignInPage.render(message: "That token is unknown or has expired."), status: .unauthorized))
            }
            known[token] = (record, now)
            return .signedIn(record)
        } catch {
            return .refused(.problem(.serviceUnavailable, "The store cannot be reached", "Tokens cannot be checked just now: \(error)"))
        }
    }
}

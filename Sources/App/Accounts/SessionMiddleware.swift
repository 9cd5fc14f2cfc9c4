import Crypto
import Foundation
import Hummingbird
import PaymentCore

/// Loads the merchant's session from Redis, gives every page its CSRF token and
/// refuses state-changing forms whose `_csrf` does not match (403).
///
/// The token is an HMAC of the session id under the server's secret key, so it
/// needs no storage and changes when the session rotates at login. Visitors who are
/// not signed in get a random `kassa_pre` cookie that plays the session's part.
struct SessionMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let sessions: SessionStore
    let secretKey: SymmetricKey
    let secureCookies: Bool

    static let sessionCookie = "kassa_session"
    static let preSessionCookie = "kassa_pre"
    static let flashCookie = "kassa_flash"
    /// Paths whose POSTs are not browser forms of a signed-in merchant (the JSON API authenticates by key).
    static let exemptPrefixes = ["/v1/"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.path = request.uri.path
        context.method = request.method
        var newPreSession: String?
        if let id = request.cookies[Self.sessionCookie]?.value, let session = try await sessions.load(id) {
            context.session = session
            context.csrfToken = Self.csrfToken(for: "s:" + session.id, key: secretKey)
        } else if let pre = request.cookies[Self.preSessionCookie]?.value, pre.count >= 40, pre.count <= 64 {
            context.csrfToken = Self.csrfToken(for: "p:" + pre, key: secretKey)
        } else {
            let pre = SessionStore.newID()
            newPreSession = pre
            context.csrfToken = Self.csrfToken(for: "p:" + pre, key: secretKey)
        }
        let flashValue = request.cookies[Self.flashCookie]?.value
        context.flash = flashValue.flatMap(Flash.init(rawValue:))

        var request = request
        if Self.isStateChanging(request.method), !Self.exemptPrefixes.contains(where: { request.uri.path.hasPrefix($0) }) {
            let body = try await request.collectBody(upTo: context.maxUploadSize)
            let contentType = request.headers[.contentType] ?? ""
            if contentType.hasPrefix("application/x-www-form-urlencoded") {
                context.form = FormData(urlEncoded: String(buffer: body))
            }
            let sent = context.form.raw("_csrf") ?? request.headers[.init("X-CSRF-Token")!] ?? ""
            guard newPreSession == nil, ConstantTime.equal(sent, context.csrfToken) else {
                throw PageError.csrf()
            }
        }

        var response = try await next(request, context)
        if let newPreSession {
            response.setCookie(self.cookie(Self.preSessionCookie, newPreSession, maxAge: nil))
        }
        if flashValue != nil, !(300..<400).contains(response.status.code) {
            response.setCookie(self.cookie(Self.flashCookie, "", maxAge: 0))
        }
        return response
    }

    static func isStateChanging(_ method: HTTPRequest.Method) -> Bool {
        method == .post || method == .put || method == .patch || method == .delete
    }

    static func csrfToken(for id: String, key: SymmetricKey) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(("csrf:" + id).utf8), using: key)
        return Data(mac).base64URLEncodedString()
    }

    func cookie(_ name: String, _ value: String, maxAge: Int?) -> Cookie {
        Cookies.make(name, value, maxAge: maxAge, secure: secureCookies)
    }
}

/// Error pages of a signed-in person's requests, drawn inside the session so they keep the
/// signed-in header (their business, the menu, the notification count). Signed-out requests'
/// errors go on to `ErrorPageMiddleware` further out.
struct SignedInErrorPageMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let pages: ErrorPageMiddleware

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            guard context.session != nil else { throw error }
            return try pages.response(for: error, to: request, context: context)
        }
    }
}

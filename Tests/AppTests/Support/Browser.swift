import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore

/// A minimal browser over the test client: keeps cookies, remembers the last
/// page's `_csrf` and posts forms the way a browser does.
final class Browser: @unchecked Sendable {
    let client: any TestClientProtocol
    var cookies: [String: String] = [:]
    var csrf: String?
    /// Sent as `X-Forwarded-For` with every request (a client behind a proxy).
    var forwardedFor: String?

    init(_ client: any TestClientProtocol) {
        self.client = client
    }

    struct Page {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: String
        var location: String? { headers[.location] }
    }

    /// GETs a page; with `follow`, follows local redirects as a browser does.
    @discardableResult
    func get(_ path: String, headers extra: HTTPFields = [:], follow: Bool = false) async throws -> Page {
        var path = path
        for _ in 0..<5 {
            var headers = extra
            if let cookie = cookieHeader { headers[.cookie] = cookie }
            if let forwardedFor { headers[.init("X-Forwarded-For")!] = forwardedFor }
            let response = try await client.execute(uri: path, method: .get, headers: headers, body: nil)
            let page = self.absorb(response)
            guard follow, (300..<400).contains(page.status.code), let location = page.location, location.hasPrefix("/") else { return page }
            path = location
        }
        throw HTTPError(.internalServerError, message: "redirect loop")
    }

    /// Posts a form; adds the page's `_csrf` unless `csrf` is given (pass "" to send none).
    @discardableResult
    func post(_ path: String, _ fields: [(String, String)], csrf override: String? = nil) async throws -> Page {
        var fields = fields
        let token = override ?? csrf
        if let token, !token.isEmpty { fields.append(("_csrf", token)) }
        let body = fields.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
        var headers: HTTPFields = [.contentType: "application/x-www-form-urlencoded"]
        if let cookie = cookieHeader { headers[.cookie] = cookie }
        if let forwardedFor { headers[.init("X-Forwarded-For")!] = forwardedFor }
        let response = try await client.execute(uri: path, method: .post, headers: headers, body: ByteBuffer(string: body))
        return self.absorb(response)
    }

    var cookieHeader: String? {
        cookies.isEmpty ? nil : cookies.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "; ")
    }

    /// The raw `Set-Cookie` lines of a response, for checking attributes.
    static func setCookies(_ page: Page) -> [String] {
        page.headers[values: .setCookie]
    }

    private func absorb(_ response: TestResponse) -> Page {
        for line in response.headers[values: .setCookie] {
            let first = line.split(separator: ";").first.map(String.init) ?? ""
            let parts = first.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count >= 1 else { continue }
            let value = parts.count > 1 ? parts[1] : ""
            if value.isEmpty || line.lowercased().contains("max-age=0") {
                cookies[parts[0]] = nil
            } else {
                cookies[parts[0]] = value
            }
        }
        let body = String(buffer: response.body)
        if let token = Self.csrfToken(in: body) { csrf = token }
        return Page(status: response.status, headers: response.headers, body: body)
    }

    static func csrfToken(in html: String) -> String? {
        guard let range = html.range(of: #"name="_csrf" value=""#) else { return nil }
        let rest = html[range.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end])
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// The error shown next to a form field (`<p class="field-error" id="FIELD-error">`), as HTML.
    static func fieldError(in html: String, field: String) -> String? {
        guard let start = html.range(of: #"<p class="field-error" id="\#(field)-error">"#) else { return nil }
        let rest = html[start.upperBound...]
        return rest.range(of: "</p>").map { String(rest[..<$0.lowerBound]) }
    }

    /// `text` as Mustache's `{{...}}` writes it.
    static func escapeHTML(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;").replacingOccurrences(of: "'", with: "&#39;")
    }

    /// `secret` with its last character changed, always to a different one: a fixed replacement
    /// is the secret itself whenever the secret already ends with it (one run in 16 for a MAC's
    /// last base64url character). "A" and "g" differ in the bits a MAC's last character carries.
    static func tampered(_ secret: String) -> String {
        String(secret.dropLast()) + (secret.hasSuffix("A") ? "g" : "A")
    }

    // MARK: flows

    static let password = "correct horse battery staple"

    /// Signs up a new merchant and stays signed in.
    @discardableResult
    func signUp(name: String = "Ada's Bakery", email: String, password: String = Browser.password) async throws -> Page {
        try await self.get("/signup", follow: true)
        return try await self.post("/signup", [("name", name), ("email", email), ("password", password)])
    }

    /// Clicks "Sign out" in the account menu of the dashboard.
    @discardableResult
    func logOut() async throws -> Page {
        try await self.get("/dashboard", follow: true)
        return try await self.post("/logout", [])
    }

    @discardableResult
    func logIn(email: String, password: String = Browser.password) async throws -> Page {
        try await self.get("/login", follow: true)
        return try await self.post("/login", [("email", email), ("password", password)])
    }
}

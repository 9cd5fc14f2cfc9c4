import Hummingbird

/// Headers that make every page safer by default. A response that already carries a
/// Content-Security-Policy (embeddable pages name their own frame-ancestors) keeps it.
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
        + "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

    let strictTransport: Bool

    /// Sent with every response, unless its handler set its own (the checkout sends no referrer at all).
    /// Made once: a header's name checked and lowercased per response was a tenth of the checkout page's
    /// middleware time.
    static let everywhere = fields([
        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "same-origin"), ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=(self)"),
    ])
    static let framing = fields([("Content-Security-Policy", contentSecurityPolicy), ("X-Frame-Options", "DENY")])
    static let strictTransportSecurity = fields([("Strict-Transport-Security", "max-age=31536000; includeSubDomains")])

    private static func fields(_ pairs: [(String, String)]) -> HTTPFields {
        var fields = HTTPFields()
        for (name, value) in pairs { fields.append(.init(name: .init(name)!, value: value)) }
        return fields
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        if response.headers[.contentSecurityPolicy] == nil { response.headers.append(contentsOf: Self.framing) }
        for field in Self.everywhere where response.headers[field.name] == nil { response.headers.append(field) }
        if strictTransport, response.headers[.strictTransportSecurity] == nil { response.headers.append(contentsOf: Self.strictTransportSecurity) }
        return response
    }
}

import Foundation
import Hummingbird
import PaymentCore

/// What every `/v1` resource controller shares: scopes, the JSON body, paging, lists, currencies.
enum API {
    /// The key that authenticated this request; its scopes were checked for the route by
    /// `APIScopeMiddleware` before anything else ran.
    static func client(_ context: AppRequestContext) throws -> APIClient {
        guard let client = context.apiClient else { throw APIError.unauthenticated }
        return client
    }

    static func scopeMissing(_ scope: String, for client: APIClient) -> APIError {
        APIError(
            status: .forbidden, type: "permission_error", code: "scope_missing",
            message: client.kind == .publishable
                ? "Publishable keys may only create payment links; use a secret key."
                : "This key lacks the `\(scope)` scope.",
            param: nil
        )
    }

    static func body(_ request: Request, context: AppRequestContext, allowed: Set<String>) async throws -> JSONBody {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        return try JSONBody(buffer, allowed: allowed)
    }

    /// `limit` (1...100, default 10) and `starting_after` from the query string.
    static func paging(_ request: Request, prefix: String) throws -> (limit: Int, after: String?) {
        let query = request.uri.queryParameters
        var limit = 10
        if let raw = query["limit"] {
            guard let value = Int(String(raw)), (1...100).contains(value) else {
                throw APIError.invalid("limit", "`limit` must be an integer from 1 to 100.")
            }
            limit = value
        }
        var after: String? = nil
        if let raw = query["starting_after"].map(String.init) {
            guard Identifier.isValid(raw, prefix: prefix) else {
                throw APIError.invalid("starting_after", "`starting_after` must be a \(prefix)_ id.")
            }
            after = raw
        }
        return (limit, after)
    }

    static func list(_ items: [JSON], hasMore: Bool) -> Response {
        JSON.object([("data", .array(items)), ("has_more", .bool(hasMore))]).response()
    }

    static func currency(_ code: String?, param: String = "currency") throws -> Currency {
        guard let code, let currency = Currency(code: code) else { throw APIError.invalid(param, "`\(param)` must be an ISO 4217 code such as EUR.") }
        return currency
    }
}

/// The authenticated `/v1` routes. Each route names the scopes that let a key call it (any one
/// of them suffices) where it is registered; the check runs before an idempotent replay and
/// before the handler, so a key that may not do something cannot have another key's stored
/// answer for it either.
struct APIRoutes {
    let group: RouterGroup<AppRequestContext>
    let idempotency: IdempotencyMiddleware

    func needing(_ scopes: String...) -> RouterGroup<AppRequestContext> {
        precondition(!scopes.isEmpty)
        return group.group().add(middleware: APIScopeMiddleware(scopes: scopes)).add(middleware: idempotency)
    }
}

/// Refuses a key that holds none of the route's scopes (403 `scope_missing`, naming the first).
struct APIScopeMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let scopes: [String]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let client = try API.client(context)
        guard scopes.contains(where: client.allows) else { throw API.scopeMissing(scopes[0], for: client) }
        return try await next(request, context)
    }
}

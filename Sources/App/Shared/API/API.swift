import Foundation
import Hummingbird
import PaymentCore

/// What every `/v1` resource controller shares: scopes, the JSON body, paging, lists, currencies.
enum API {
    static func require(_ scope: String, _ context: AppRequestContext) throws -> APIClient {
        guard let client = context.apiClient else { throw APIError.unauthenticated }
        guard client.allows(scope) else {
            throw APIError(
                status: .forbidden, type: "permission_error", code: "scope_missing",
                message: client.kind == .publishable
                    ? "Publishable keys may only create payment links; use a secret key."
                    : "This key lacks the `\(scope)` scope.",
                param: nil
            )
        }
        return client
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

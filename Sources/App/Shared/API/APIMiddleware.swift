import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import PaymentCore
import PostgresNIO
import RedisClient
import Synchronization

/// Every `/v1` response: JSON errors in DESIGN.md's shape and the `Kassa-Version` header.
struct APIErrorMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    static let version = "2026-11-22"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = error.response
        } catch let error as PaymentError {
            response = Self.map(error).response
        } catch let error as FieldProblems {
            response = Self.map(error).response
        } catch let error as HTTPError {
            response = Self.response(error, to: request)
        } catch is NIOTooManyBytesError {
            response = Self.fromHTTP(HTTPError(.contentTooLarge)).response
        } catch let error as RedisError {
            // Rate limits are away (Redis restarting, a Sentinel failover): retry shortly.
            context.logger.warning("redis unavailable", metadata: ["error": "\(error)"])
            response = Self.unavailable("its rate-limit store").response
        } catch let error as PSQLError where DatabaseFailure.isUnavailable(error) {
            // PostgreSQL is away (restarting, failing over): retry shortly; a payment's
            // Idempotency-Key makes the retry the same request.
            context.logger.warning("database unavailable", metadata: ["code": "\(error.code)"])
            response = Self.unavailable("its database").response
        } catch {
            context.logger.error("API error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            response =
                APIError(
                    status: .internalServerError, type: "api_error", code: "internal_error", message: "Something went wrong on our side.", param: nil
                ).response
        }
        response.headers[.init("Kassa-Version")!] = Self.version
        return response
    }

    /// An HTTP error in the API's shape. A 404 for a route that exists with other methods is a 405
    /// naming them (the router answers 404 whenever no route takes the method).
    static func response(_ error: HTTPError, to request: Request) -> Response {
        if error.status == .notFound, let allowed = allowedMethods(path: request.uri.path), !allowed.contains(request.method.rawValue) {
            var response = fromHTTP(HTTPError(.methodNotAllowed)).response
            response.headers[.allow] = allowed.joined(separator: ", ")
            return response
        }
        return fromHTTP(error).response
    }

    /// The methods the spec (and so the router: `theSpecAndTheRouterAgree`) takes on `path`;
    /// nil when no route has that shape. `{id}` segments match any one segment.
    static func allowedMethods(path: String) -> [String]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var methods: [String] = []
        for (template, verbs) in routeShapes where template.count == segments.count {
            if zip(template, segments).allSatisfy({ $0.hasPrefix("{") ? !$1.isEmpty : $0 == $1 }) { methods += verbs }
        }
        return methods.isEmpty ? nil : methods
    }

    /// Each documented path's segments with the methods it takes.
    private static let routeShapes: [([Substring], [String])] = {
        var shapes: [String: [String]] = [:]
        for endpoint in OpenAPIController.endpoints(in: OpenAPIController.bundledSpec()) {
            shapes[endpoint.path, default: []].append(endpoint.method)
        }
        return shapes.map { (Array($0.key.split(separator: "/", omittingEmptySubsequences: false).dropFirst()), $0.value) }
    }()

    static func fromHTTP(_ error: HTTPError) -> APIError {
        switch error.status.code {
        case 404: APIError(status: .notFound, type: "invalid_request_error", code: "route_missing", message: "No such route.", param: nil)
        case 405:
            APIError(
                status: .methodNotAllowed, type: "invalid_request_error", code: "method_not_allowed",
                message: "This route does not take that method.", param: nil)
        case 413:
            APIError(
                status: .contentTooLarge, type: "invalid_request_error", code: "body_too_large", message: "The body is larger than 1 MiB.", param: nil
            )
        default:
            APIError(
                status: error.status, type: "invalid_request_error", code: "request_invalid", message: error.body ?? "The request was not valid.",
                param: nil)
        }
    }

    /// A draft's broken rules as the API's error for the first one: 400 `parameter_invalid` for a
    /// value wrong on its own, 422 with the rule's code for one refused for what the account holds.
    static func map(_ error: FieldProblems) -> APIError {
        guard let first = error.problems.first else {
            return APIError(
                status: .badRequest, type: "invalid_request_error", code: "request_invalid", message: "The request was not valid.", param: nil)
        }
        if let code = first.code { return .unprocessable(code, first.message, param: first.field) }
        return .invalid(first.field, first.message)
    }

    /// 503 with `Retry-After: 2`: a store Kassa needs is away for a moment (a restart, a failover).
    static func unavailable(_ what: String) -> APIError {
        var error = APIError(
            status: .serviceUnavailable, type: "api_error", code: "service_unavailable",
            message: "Kassa cannot reach \(what) right now; retry in a few seconds.", param: nil)
        error.headers[.retryAfter] = "2"
        return error
    }

    /// The core's refusals in the API's words.
    static func map(_ error: PaymentError) -> APIError {
        switch error {
        case .notFound: .notFound("payment")
        case .linkNotFound: .notFound("payment link")
        case .invalidTransition(let from, let to):
            APIError(
                status: .conflict, type: "invalid_request_error", code: "payment_state_invalid",
                message: "A \(from.rawValue) payment cannot become \(to.rawValue).", param: nil)
        case .linkNotActive(let status):
            APIError(
                status: .conflict, type: "invalid_request_error", code: "payment_link_\(status.rawValue)",
                message: "The payment link is \(status.rawValue).", param: nil)
        case .linkInProgress, .attemptInProgress:
            APIError(
                status: .conflict, type: "invalid_request_error", code: "payment_in_progress", message: "A payment for this is in progress.",
                param: nil)
        case .cardNotAccepted(_, let issuer):
            .unprocessable("card_not_accepted", "Cards from \(issuer) are not accepted for this payment.")
        case .amountOutOfRange:
            .unprocessable("amount_invalid", "The amount must be above zero and at most the maximum.", param: "amount")
        case .refundExceedsCaptured(let available):
            .unprocessable("refund_exceeds_captured", RefundRefusal.exceeds(available), param: "amount")
        case .notRefundable(let status):
            .unprocessable("payment_not_refundable", RefundRefusal.notRefundable(status))
        case .issuerUnavailable(let issuer):
            APIError(
                status: .serviceUnavailable, type: "api_error", code: "issuer_unavailable",
                message: "\(issuer) is not responding; try again shortly.", param: nil)
        case .issuerNotFound(let id): .unprocessable("issuer_invalid", "No such issuer: \(id).", param: "issuer")
        case .unsupportedCurrencies(let codes):
            .unprocessable(
                "currency_not_supported",
                codes.isEmpty ? "Give at least one currency." : "The issuer does not support \(codes.joined(separator: ", ")).",
                param: "currencies"
            )
        case .methodExists: .unprocessable("payment_method_exists", "This account already accepts that issuer.", param: "issuer")
        case .captureExceedsAuthorized(let available):
            .unprocessable("amount_too_large", "You can capture at most \(available.formatted), the authorized amount.", param: "amount")
        case .methodInUse(let links):
            APIError(
                status: .conflict, type: "invalid_request_error", code: "payment_method_in_use",
                message: "\(links) open payment link(s) depend on it.", param: nil)
        }
    }
}

/// API keys and rate limits for every authenticated `/v1` route.
struct APIAuthMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let keys: APIKeys
    let limiter: RateLimiter
    let perKey: RateLimit
    let perAccount: RateLimit
    let accountLimits: AccountRateLimits
    let suspensions: Suspensions
    /// Each merchant's requests and errors, for the operator's console.
    let stats: OpsStats

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { throw APIError.unauthenticated }
        guard let client = try await keys.authenticate(String(header.dropFirst("Bearer ".count))) else { throw APIError.unauthenticated }
        var answered: (status: Int, code: String?) = (500, "internal_error")
        defer {
            stats.api(
                accountID: client.accountID, method: request.method.rawValue, route: context.endpointPath ?? request.uri.path,
                status: answered.status, code: answered.code)
        }
        do {
            let response = try await authorized(request, client: client, context: context, next: next)
            answered = (response.status.code, nil)
            return response
        } catch {
            let api = error as? APIError
            answered = (api?.status.code ?? (error as? any HTTPResponseError)?.status.code ?? 500, api?.code ?? "internal_error")
            throw error
        }
    }

    /// A suspended merchant's key is refused (403 `account_suspended`), but for refunds, which
    /// still work.
    static func isAllowedWhileSuspended(_ request: Request) -> Bool {
        request.method == .post && request.uri.path.hasSuffix("/refunds")
    }

    private func authorized(
        _ request: Request, client: APIClient, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        if let reason = try await suspensions.reason(client.accountID), !Self.isAllowedWhileSuspended(request) {
            throw APIError.suspended(reason)
        }

        // Budgets live under the account's hash tag; one account's traffic never spends another's.
        var accountRate = perAccount
        if let custom = try await accountLimits.perMinute(client.accountID) { accountRate = RateLimit(limit: custom, windowSeconds: 60) }
        let byKey = try await limiter.hit("api:{\(client.accountID)}:key:\(client.keyID)", rate: perKey)
        let byAccount = try await limiter.hit("api:{\(client.accountID)}:account", rate: accountRate)
        let tightest = byAccount.remaining < byKey.remaining ? byAccount : byKey
        let headers: HTTPFields = [
            .init("RateLimit-Limit")!: String(tightest.limit),
            .init("RateLimit-Remaining")!: String(tightest.remaining),
            .init("RateLimit-Reset")!: String(tightest.resetSeconds),
        ]
        guard byKey.allowed, byAccount.allowed else {
            let wait = max(byKey.allowed ? 0 : byKey.resetSeconds, byAccount.allowed ? 0 : byAccount.resetSeconds)
            var error = APIError(
                status: .tooManyRequests, type: "rate_limit_error", code: "rate_limited", message: "Too many requests; retry after \(wait) seconds.",
                param: nil)
            error.headers = headers
            error.headers[.retryAfter] = String(wait)
            throw error
        }
        var context = context
        context.apiClient = client
        var response: Response
        do {
            response = try await next(request, context)
        } catch var error as APIError {
            for field in headers { error.headers[field.name] = field.value }
            throw error
        }
        for field in headers { response.headers[field.name] = field.value }
        return response
    }
}

extension APIError {
    /// An operator suspended the merchant: nothing but refunds until they resume it.
    static func suspended(_ reason: String) -> APIError {
        APIError(
            status: .forbidden, type: "permission_error", code: "account_suspended",
            message: "This account is suspended by the platform operator (\(reason)). Refunds still work; contact the operator.", param: nil)
    }
}

/// Per-account API budgets (accounts.api_requests_per_minute), cached for a minute per process.
final class AccountRateLimits: Sendable {
    let database: PostgresClient
    let logger: Logger
    private let cache = Mutex<[String: (Int?, ContinuousClock.Instant)]>([:])

    init(database: PostgresClient, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    func perMinute(_ accountID: AccountID) async throws -> Int? {
        let now = ContinuousClock.now
        if let (value, at) = cache.withLock({ $0[accountID.rawValue] }), now - at < .seconds(60) { return value }
        let rows = try await database.query("SELECT api_requests_per_minute FROM accounts WHERE id = \(accountID)", logger: logger)
        var value: Int? = nil
        for try await limit in rows.decode(Int?.self) { value = limit }
        cache.withLock { $0[accountID.rawValue] = (value, now) }
        return value
    }

    /// After an operator's change, this process reads the budget afresh (others within a minute).
    func forget(_ accountID: AccountID) {
        _ = cache.withLock { $0.removeValue(forKey: accountID.rawValue) }
    }
}

/// `Idempotency-Key` on POST: the first response is stored with the request's fingerprint;
/// the same key and body replay it, another body is refused, a key still running gets 409.
/// The records are rows in PostgreSQL, so several server processes agree. A record belongs to
/// the API key that made it: another key of the account is refused, never answered from it
/// (and the route's scope was checked before this runs). The stored answer can hold a secret
/// (a new webhook endpoint's `whsec_`), so it is sealed (AES-GCM under a key derived from the
/// server's secret, bound to its account, API key and Idempotency-Key); the table never holds
/// an answer in clear (a CHECK says so).
struct IdempotencyMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let database: PostgresClient
    let sealing: SymmetricKey
    let logger: Logger

    init(database: PostgresClient, sealing secret: [UInt8], logger: Logger) {
        self.database = database
        self.sealing = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: secret), info: Array("kassa idempotency replay v1".utf8), outputByteCount: 32)
        self.logger = logger
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.method == .post, let key = request.headers[.init("Idempotency-Key")!], let client = context.apiClient else {
            return try await next(request, context)
        }
        guard (1...255).contains(key.count), key.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw APIError.invalid("Idempotency-Key", "The Idempotency-Key header must be 1 to 255 visible ASCII characters.")
        }
        var request = request
        let body = try await request.collectBody(upTo: context.maxUploadSize)
        var hasher = SHA256()
        hasher.update(data: Array("\(request.method.rawValue) \(request.uri.path)\n".utf8))
        hasher.update(data: Array(buffer: body))
        let fingerprint = Hex.string(hasher.finalize())

        let claimed = try await claim(client: client, key: key, fingerprint: fingerprint)
        if !claimed {
            return try await replay(client: client, key: key, fingerprint: fingerprint)
        }
        let response: Response
        do {
            response = try await next(request, context)
        } catch {
            // Nothing was promised: let the client retry with the same key.
            try? await release(accountID: client.accountID, key: key)
            throw error
        }
        guard response.status.code < 500 else {
            try? await release(accountID: client.accountID, key: key)
            return response
        }
        let collector = Collector()
        var stored = response
        try await response.body.write(CollectingWriter(collector: collector))
        let bytes = Array(buffer: collector.buffer)
        let sealed = try AES.GCM.seal(bytes, using: sealing, authenticating: Self.binding(client: client, key: key)).combined!
        try await database.query(
            """
            UPDATE idempotency_keys SET response_status = \(Int(response.status.code)), response_sealed = \(ByteBuffer(bytes: sealed))
            WHERE account_id = \(client.accountID) AND key = \(key) AND api_key_id = \(client.keyID)
            """,
            logger: logger
        )
        stored.body = .init(byteBuffer: ByteBuffer(bytes: bytes))
        return stored
    }

    /// What a sealed answer is bound to: opened for another record it fails.
    static func binding(client: APIClient, key: String) -> [UInt8] {
        Array("\(client.accountID.rawValue)\n\(client.keyID)\n\(key)".utf8)
    }

    /// Takes the key, or an abandoned claim on it (a crashed process's, older than a minute).
    private func claim(client: APIClient, key: String, fingerprint: String) async throws -> Bool {
        let rows = try await database.query(
            """
            INSERT INTO idempotency_keys (account_id, key, api_key_id, fingerprint)
            VALUES (\(client.accountID), \(key), \(client.keyID), \(fingerprint))
            ON CONFLICT (account_id, key) DO UPDATE SET created_at = now()
                WHERE idempotency_keys.response_status IS NULL AND idempotency_keys.created_at < now() - interval '60 seconds'
                  AND idempotency_keys.fingerprint = excluded.fingerprint AND idempotency_keys.api_key_id = excluded.api_key_id
            RETURNING key
            """,
            logger: logger
        )
        var claimed = false
        for try await _ in rows.decode(String.self) { claimed = true }
        return claimed
    }

    private func replay(client: APIClient, key: String, fingerprint: String) async throws -> Response {
        let rows = try await database.query(
            """
            SELECT api_key_id, fingerprint, response_status, response_sealed FROM idempotency_keys
            WHERE account_id = \(client.accountID) AND key = \(key)
            """,
            logger: logger
        )
        for try await (owner, stored, status, sealed) in rows.decode((String?, String, Int?, ByteBuffer?).self) {
            // Records made before keys owned them (owner nil) are refused too: safe, if unhelpful.
            guard owner == client.keyID else {
                throw APIError.unprocessable(
                    "idempotency_key_reused", "This Idempotency-Key was used by another API key of this account.", param: "Idempotency-Key"
                )
            }
            guard stored == fingerprint else {
                throw APIError.unprocessable(
                    "idempotency_key_reused", "This Idempotency-Key was used with a different request.", param: "Idempotency-Key"
                )
            }
            guard let status, let sealed else {
                throw APIError(
                    status: .conflict, type: "invalid_request_error", code: "idempotency_key_in_use",
                    message: "A request with this Idempotency-Key is still running; retry shortly.", param: "Idempotency-Key"
                )
            }
            return Response(
                status: .init(code: status),
                headers: [.contentType: "application/json; charset=utf-8", .init("Idempotent-Replayed")!: "true", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: try open(sealed, client: client, key: key)))
            )
        }
        // Released between our insert attempt and this read: ask the client to retry.
        throw APIError(
            status: .conflict, type: "invalid_request_error", code: "idempotency_key_in_use", message: "Retry this request.", param: "Idempotency-Key"
        )
    }

    private func open(_ sealed: ByteBuffer, client: APIClient, key: String) throws -> [UInt8] {
        let box = try AES.GCM.SealedBox(combined: Array(buffer: sealed))
        return Array(try AES.GCM.open(box, using: sealing, authenticating: Self.binding(client: client, key: key)))
    }

    private func release(accountID: AccountID, key: String) async throws {
        try await database.query(
            "DELETE FROM idempotency_keys WHERE account_id = \(accountID) AND key = \(key) AND response_status IS NULL", logger: logger
        )
    }

    /// Forgets records older than 24 hours.
    static func sweep(database: PostgresClient, logger: Logger) async throws -> Int {
        let rows = try await database.query(
            "DELETE FROM idempotency_keys WHERE created_at < now() - interval '24 hours' RETURNING key", logger: logger
        )
        var count = 0
        for try await _ in rows.decode(String.self) { count += 1 }
        return count
    }

    final class Collector: @unchecked Sendable {
        var buffer = ByteBuffer()
        var text: String { String(buffer: buffer) }
    }

    struct CollectingWriter: ResponseBodyWriter {
        let collector: Collector
        mutating func write(_ buffer: ByteBuffer) async throws {
            var copy = buffer
            collector.buffer.writeBuffer(&copy)
        }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}

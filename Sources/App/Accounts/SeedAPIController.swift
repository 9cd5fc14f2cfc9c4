import Crypto
import Foundation
import Hummingbird
import JWTKit
import PaymentCore

/// The seed's account API, kept for the integrations that use it: create a user, get a
/// short-lived JWT for email + password, and replace the account's payment methods with it.
struct SeedAPIController: Sendable {
    let service: AccountService
    let payments: Payments
    let tokens: JWTKeyCollection
    let twoFactor: TwoFactor
    let audit: AuditLog
    let suspensions: Suspensions

    static let tokenLifetime: TimeInterval = 15 * 60

    /// The JWT's claims: who, which account, until when.
    struct TokenPayload: JWTPayload {
        var sub: SubjectClaim
        var acct: String
        var exp: ExpirationClaim
        var iat: IssuedAtClaim

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
        }
    }

    /// HS256 with a key derived from `KASSA_SECRET_KEY`, so it is never the secret itself.
    static func keyCollection(secret: [UInt8]) async -> JWTKeyCollection {
        let derived = HMAC<SHA256>.authenticationCode(for: Array("kassa jwt v1".utf8), using: SymmetricKey(data: secret))
        return await JWTKeyCollection().add(hmac: HMACKey(key: SymmetricKey(data: Array(derived))), digestAlgorithm: .sha256)
    }

    func addRoutes(to router: RouterGroup<AppRequestContext>) {
        router.post("users", use: self.createUser)
        router.post("tokens", use: self.createToken)
        router.put("users/me", use: self.updateMe)
        router.get("users/me", use: self.showMe)
    }

    func createUser(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await API.body(request, context: context, allowed: ["name", "username", "email", "date", "password"])
        let email = try body.string("email", required: true, maxLength: 254)!
        let password = try body.string("password", required: true, maxLength: 1000)!
        let name = try body.string("name", maxLength: .max)
        let username = try body.string("username", maxLength: .max)
        let date = try body.string("date", maxLength: .max)
        let user: AccountStore.User
        do {
            user = try await service.signUp(
                name: name, email: email, password: password, client: context.remoteAddress, username: username, date: date)
        } catch let refused as AccountService.TooManyAttempts {
            throw Self.tooMany(refused.retryAfter)
        } catch AccountStore.StoreError.emailTaken {
            throw APIError(
                status: .conflict, type: "invalid_request_error", code: "email_taken", message: "An account with this email exists.", param: "email")
        } catch AccountStore.StoreError.usernameTaken {
            throw APIError(
                status: .conflict, type: "invalid_request_error", code: "username_taken", message: "Someone on this Kassa has this username.",
                param: "username")
        }
        return try await me(user).response(status: .created, headers: [.location: "/v1/users/me"])
    }

    func createToken(_ request: Request, context: AppRequestContext) async throws -> Response {
        let body = try await API.body(request, context: context, allowed: ["email", "password", "code"])
        let email = try body.string("email", required: true, maxLength: 254)!
        let password = try body.string("password", required: true, maxLength: 1000)!
        let code = try body.string("code", maxLength: 20)
        let found: AccountStore.User?
        do {
            found = try await service.logIn(email: email, password: password, client: context.remoteAddress)
        } catch let refused as AccountService.TooManyAttempts {
            throw Self.tooMany(refused.retryAfter)
        }
        // A platform operator's account is no business: no token for it.
        guard let user = found, !user.isOperator else {
            throw APIError(
                status: .unauthorized, type: "authentication_error", code: "credentials_invalid", message: "Email or password is incorrect.",
                param: nil)
        }
        // With two-factor sign-in the password alone gets no token.
        if user.twoFactor {
            guard let code, !code.isEmpty else {
                throw APIError(
                    status: .badRequest, type: "invalid_request_error", code: "code_required",
                    message: "This person signs in with two factors: send `code`, from their app or a recovery code.", param: "code")
            }
            do {
                try await service.spendCodeBudget(userID: user.id)
            } catch let refused as AccountService.TooManyAttempts {
                throw Self.tooMany(refused.retryAfter)
            }
            guard try await twoFactor.verify(userID: user.id, code: code) else {
                throw APIError(
                    status: .unauthorized, type: "authentication_error", code: "code_invalid", message: "The code is not right, or was used already.",
                    param: "code")
            }
        }
        await audit.record(user, "account.signed_in", detail: "API token", client: context.remoteAddress)
        let now = Date()
        let token = try await tokens.sign(
            TokenPayload(
                sub: .init(value: user.id), acct: user.accountID.rawValue, exp: .init(value: now.addingTimeInterval(Self.tokenLifetime)),
                iat: .init(value: now))
        )
        return JSON.object([("token", .string(token)), ("expires_in", .int(Int64(Self.tokenLifetime)))]).response()
    }

    func showMe(_ request: Request, context: AppRequestContext) async throws -> Response {
        try await me(try await authenticated(request)).response()
    }

    /// Replaces the account's payment methods with the list given.
    func updateMe(_ request: Request, context: AppRequestContext) async throws -> Response {
        let user = try await authenticated(request)
        // The same rule as the payment methods page: changing them needs an admin.
        let needed = RoleRules.required(method: .post, path: "/payment-methods")
        guard user.role >= needed else {
            throw APIError(
                status: .forbidden, type: "permission_error", code: "role_insufficient",
                message: "Changing payment methods needs the \(needed.rawValue) role; this person is \(user.role.rawValue) in \(user.accountName).",
                param: nil)
        }
        let body = try await API.body(request, context: context, allowed: ["paymentMethods"])
        guard case .array(let items)? = body.fields["paymentMethods"] else {
            throw APIError.invalid(
                "paymentMethods", "`paymentMethods` must be an array of {issuer, currencies}.",
                code: body.fields["paymentMethods"] == nil ? "parameter_missing" : "parameter_invalid")
        }
        var wanted: [(String, [String])] = []
        for (index, item) in items.enumerated() {
            guard case .object(let fields) = item else {
                throw APIError.invalid("paymentMethods[\(index)]", "Each payment method must be an object.")
            }
            let entry = try JSONBody(fields: fields, allowed: ["issuer", "currencies"], path: "paymentMethods[\(index)]")
            let issuer = try entry.string("issuer", required: true)!
            let currencies = try entry.strings("currencies", required: true)!
            if wanted.contains(where: { $0.0 == issuer }) {
                throw APIError.unprocessable("payment_method_duplicate", "\(issuer) is listed twice.", param: "paymentMethods[\(index)].issuer")
            }
            wanted.append((issuer, currencies))
        }
        do {
            try await payments.methods.replaceAll(accountID: user.accountID, with: wanted)
        } catch let error as PaymentError {
            var mapped = APIErrorMiddleware.map(error)
            if let param = mapped.param { mapped.param = "paymentMethods." + param }
            throw mapped
        }
        return try await me(user).response()
    }

    // MARK: helpers

    private func authenticated(_ request: Request) async throws -> AccountStore.User {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else { throw Self.badToken }
        let payload: TokenPayload
        do {
            payload = try await tokens.verify(String(header.dropFirst("Bearer ".count)), as: TokenPayload.self)
        } catch {
            throw Self.badToken
        }
        // The person must still belong to the token's business, in whatever role they have now.
        guard let user = try await service.accounts.user(id: payload.sub.value, in: AccountID(payload.acct)) else { throw Self.badToken }
        if let reason = try await suspensions.reason(user.accountID) { throw APIError.suspended(reason) }
        return user
    }

    private func me(_ user: AccountStore.User) async throws -> JSON {
        let methods = try await payments.methods.list(accountID: user.accountID)
        return .object([
            ("id", .string(user.id)), ("object", "user"), ("email", .string(user.email)), ("name", .string(user.name)),
            ("username", user.username.map { .string($0) } ?? .null), ("date", user.declaredDate.map { .string($0) } ?? .null),
            ("account_id", .string(user.accountID.rawValue)),
            (
                "paymentMethods",
                .array(
                    methods.map {
                        .object([
                            ("id", .string($0.id.rawValue)), ("issuer", .string($0.issuerID)),
                            ("currencies", .array($0.currencies.map { .string($0.code) })),
                        ])
                    })
            ),
        ])
    }

    static let badToken = APIError(
        status: .unauthorized, type: "authentication_error", code: "token_invalid",
        message: "Send a valid token from POST /v1/tokens as `Authorization: Bearer <token>`; they last 15 minutes.", param: nil,
        headers: [.wwwAuthenticate: "Bearer"]
    )

    static func tooMany(_ seconds: Int) -> APIError {
        APIError(
            status: .tooManyRequests, type: "rate_limit_error", code: "rate_limited", message: "Too many attempts; retry after \(seconds) seconds.",
            param: nil, headers: [.retryAfter: String(seconds)]
        )
    }
}

extension JSONBody {
    /// A nested object, with errors naming `path.field`.
    init(fields: [String: JSONValue], allowed: Set<String>, path: String) throws(APIError) {
        if let unknown = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError.invalid("\(path).\(unknown)", "Unknown parameter `\(unknown)`.", code: "parameter_unknown")
        }
        self.init(validated: fields, path: path)
    }
}

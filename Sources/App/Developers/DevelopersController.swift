import Foundation
import Hummingbird
import Mustache
import PaymentCore

/// `/developers/keys`: API keys — create (the secret is shown once), list, revoke, roll.
struct DevelopersController: Sendable {
    let keys: APIKeys
    let renderer: Renderer
    let audit: AuditLog
    let secureCookies: Bool

    func addRoutes(to router: RouterGroup<MerchantContext>) {
        router.get("/developers/keys", use: self.list)
        router.post("/developers/keys", use: self.create)
        router.post("/developers/keys/:id/revoke", use: self.revoke)
        router.post("/developers/keys/:id/roll", use: self.roll)
        router.post("/developers/keys/publishable-limit", use: self.setPublishableLimit)
    }

    struct KeyRow: Sendable {
        let id: String
        let name: String
        let kind: String
        let shown: String
        let scopes: String
        let created: String
        let lastUsed: String
        let expires: String
        let status: String
        let statusClass: String
        let active: Bool
    }

    typealias Option = CheckOption

    struct PageView: Sendable {
        let keys: [KeyRow]
        let hasKeys: Bool
        let scopes: [Option]
        let expiries: [Option]
        let graces: [Option]
        let newSecret: String?
        let newKeyName: String?
        let form: [String: String]
        let errors: [String: String]
        let summary: FormState.Summary?
        let publishableLimit: String
        let limitError: String?
    }

    static let expiries: [(String, String)] = [("", "Never"), ("30", "In 30 days"), ("90", "In 90 days"), ("365", "In a year")]
    static let graces: [(String, String)] = [("0", "now"), ("3600", "in 1 hour"), ("86400", "in 24 hours"), ("604800", "in 7 days")]

    func list(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        return try await render(accountID: session.accountID, state: FormState(), secret: nil, context: context, status: .ok)
    }

    func create(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let form = context.form
        let name = form["name"] ?? ""
        let kind = APIKeys.Kind(rawValue: form["kind"] ?? "secret")
        let chosen = form.all("scopes")
        let expiry = form["expires_in_days"] ?? ""
        var state = FormState(values: [
            "name": name, "kind": form["kind"] ?? "secret", "expires_in_days": expiry, "scopes": chosen.joined(separator: ","),
        ])
        if name.isEmpty { state.errors["name"] = "Name the key after what uses it, such as “Shop backend”." }
        if name.length > 100 { state.errors["name"] = "Use at most 100 characters." }
        if kind == nil { state.errors["kind"] = "Choose a secret or a publishable key." }
        if let unknown = chosen.first(where: { !APIKeys.scopes.contains($0) }) { state.errors["scopes"] = "“\(unknown)” is not a scope." }
        var expiresAt: Date? = nil
        if !expiry.isEmpty {
            if let days = Int(expiry), [30, 90, 365].contains(days) {
                expiresAt = Date().addingTimeInterval(Double(days) * 86400)
            } else {
                state.errors["expires_in_days"] = "Choose when the key expires from the list."
            }
        }
        guard !state.hasErrors, let kind else {
            return try await render(accountID: session.accountID, state: state, secret: nil, context: context, status: .unprocessableContent)
        }
        let scopes = kind == .publishable ? APIKeys.publishableScopes : (chosen.isEmpty ? APIKeys.scopes : chosen)
        let (key, secret) = try await keys.create(accountID: session.accountID, name: name, kind: kind, scopes: scopes, expiresAt: expiresAt)
        context.logger.info("API key created", metadata: ["key_id": .string(key.id), "kind": .string(kind.rawValue)])
        await audit.record(session, "api_key.created", detail: "\(key.name) (\(key.id), \(kind.rawValue))", client: context.request.remoteAddress)
        return try await render(accountID: session.accountID, state: FormState(), secret: (secret, name), context: context, status: .created)
    }

    /// The largest amount publishable keys may ask for, in whole units of the link's currency;
    /// empty for no limit of the account's own.
    func setPublishableLimit(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let raw = (context.form["publishable_limit"] ?? "").trimmingCharacters(in: .whitespaces)
        var limit: Int64? = nil
        if !raw.isEmpty {
            guard let value = Int64(raw), (1...999_999_999).contains(value) else {
                var state = FormState()
                state.values["publishable_limit"] = raw
                return try await render(
                    accountID: session.accountID, state: state, secret: nil,
                    limitError: "Enter a whole number from 1 to 999,999,999, or leave it empty.",
                    context: context, status: .unprocessableContent)
            }
            limit = value
        }
        try await keys.setPublishableLimit(accountID: session.accountID, to: limit)
        context.logger.info("publishable key limit set", metadata: ["limit": .string(limit.map(String.init) ?? "none")])
        return .redirect(to: "/developers/keys#publishable-limit", flash: .publishableLimitSaved, secureCookies: secureCookies)
    }

    func revoke(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id")
        guard try await keys.revoke(accountID: session.accountID, id: id) else { throw HTTPError(.notFound) }
        context.logger.info("API key revoked", metadata: ["key_id": .string(id)])
        await audit.record(session, "api_key.revoked", detail: id, client: context.request.remoteAddress)
        return .redirect(to: "/developers/keys", flash: .keyRevoked, secureCookies: secureCookies)
    }

    func roll(_ request: Request, context: MerchantContext) async throws -> Response {
        let session = context.session
        let id = try context.parameters.require("id")
        guard let grace = Int(context.form["grace"] ?? ""), Self.graces.contains(where: { $0.0 == String(grace) }) else {
            throw HTTPError(.badRequest, message: "Choose when the old key stops working.")
        }
        guard let (key, secret) = try await keys.roll(accountID: session.accountID, id: id, grace: grace) else { throw HTTPError(.notFound) }
        context.logger.info("API key rolled", metadata: ["key_id": .string(id), "new_key_id": .string(key.id)])
        await audit.record(session, "api_key.rolled", detail: "\(id) to \(key.id)", client: context.request.remoteAddress)
        return try await render(accountID: session.accountID, state: FormState(), secret: (secret, key.name), context: context, status: .created)
    }

    private func render(
        accountID: AccountID, state: FormState, secret: (String, String)?, limitError: String? = nil, context: MerchantContext,
        status: HTTPResponse.Status
    ) async throws -> Response {
        let limit = try await keys.publishableLimit(accountID: accountID)
        let now = Date()
        var rows: [KeyRow] = []
        for key in try await keys.list(accountID: accountID) {
            let active = key.isActive(at: now)
            let status = key.revokedAt != nil ? "Revoked" : (active ? "Active" : "Expired")
            let used = await keys.lastUsed(accountID: accountID, keyID: key.id)
            rows.append(
                KeyRow(
                    id: key.id, name: key.name, kind: key.kind == .secret ? "Secret" : "Publishable", shown: key.lookup + "…",
                    scopes: key.kind == .publishable
                        ? "create payment links" : (Set(key.scopes) == Set(APIKeys.scopes) ? "all" : key.scopes.joined(separator: ", ")),
                    created: Formats.date(key.createdAt), lastUsed: used.map(Formats.dateTime) ?? "never",
                    expires: key.expiresAt.map(Formats.dateTime) ?? "never", status: status, statusClass: active ? "ok" : "muted", active: active
                )
            )
        }
        let chosen = Set((state.values["scopes"] ?? "").split(separator: ",").map(String.init))
        let expiry = state.values["expires_in_days"] ?? ""
        return renderer.page(
            "developers/keys",
            title: "API keys",
            PageView(
                keys: rows, hasKeys: !rows.isEmpty,
                scopes: APIKeys.scopes.map { Option(value: $0, label: $0, checked: chosen.contains($0)) },
                expiries: Self.expiries.map { Option(value: $0.0, label: $0.1, checked: $0.0 == expiry) },
                graces: Self.graces.map { Option(value: $0.0, label: $0.1, checked: $0.0 == "86400") },
                newSecret: secret?.0, newKeyName: secret?.1,
                form: state.values, errors: state.errors, summary: state.summary(order: ["name", "kind", "scopes", "expires_in_days"]),
                publishableLimit: state.values["publishable_limit"] ?? limit.map(String.init) ?? "", limitError: limitError
            ),
            context: context,
            status: status
        )
    }
}

// Views rendered by name, not through Mirror (see `ViewParity`).
extension DevelopersController.KeyRow: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "id": self.id
        case "name": self.name
        case "kind": self.kind
        case "shown": self.shown
        case "scopes": self.scopes
        case "created": self.created
        case "lastUsed": self.lastUsed
        case "expires": self.expires
        case "status": self.status
        case "statusClass": self.statusClass
        case "active": self.active
        default: nil
        }
    }
}

extension DevelopersController.PageView: MustacheParent {
    func child(named name: String) -> Any? {
        switch name {
        case "keys": self.keys
        case "hasKeys": self.hasKeys
        case "scopes": self.scopes
        case "expiries": self.expiries
        case "graces": self.graces
        case "newSecret": self.newSecret
        case "newKeyName": self.newKeyName
        case "form": self.form
        case "errors": self.errors
        case "summary": self.summary
        case "publishableLimit": self.publishableLimit
        case "limitError": self.limitError
        default: nil
        }
    }
}

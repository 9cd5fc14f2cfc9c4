import Foundation
import Hummingbird
import PaymentCore

/// The `/v1` resources of DESIGN.md. Each handler parses, calls the same core operation the
/// pages call, and shapes JSON.
struct APIController: Sendable {
    let payments: Payments
    let signer: LinkSigner
    let baseURL: String

    /// Routes that need no key.
    func addPublicRoutes(to router: RouterGroup<AppRequestContext>) {
        router.get("issuers", use: self.issuers)
    }

    func addRoutes(to router: RouterGroup<AppRequestContext>) {
        router.get("payment_methods", use: self.listMethods)
        router.post("payment_methods", use: self.createMethod)
        router.post("payment_methods/:id", use: self.updateMethod)
        router.delete("payment_methods/:id", use: self.deleteMethod)
        router.get("payment_links", use: self.listLinks)
        router.post("payment_links", use: self.createLink)
        router.get("payment_links/:id", use: self.showLink)
        router.post("payment_links/:id/revoke", use: self.revokeLink)
        router.get("payments", use: self.listPayments)
        router.get("payments/:id", use: self.showPayment)
        router.post("payments/:id/refunds", use: self.createRefund)
        router.get("payments/:id/refunds", use: self.listRefunds)
        router.get("events", use: self.listEvents)
        router.post("checkout_sessions", use: self.createCheckoutSession)
    }

    // MARK: helpers

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

    // MARK: representations

    static func issuer(_ issuer: Issuer) -> JSON {
        .object([
            ("id", .string(issuer.id)), ("name", .string(issuer.name)), ("network", .string(issuer.network.rawValue)),
            ("currencies", .array(issuer.currencies.map { .string($0.code) })),
        ])
    }

    static func method(_ method: PaymentMethod) -> JSON {
        .object([
            ("id", .string(method.id)), ("object", "payment_method"), ("issuer", .string(method.issuerID)),
            ("currencies", .array(method.currencies.map { .string($0.code) })), ("created_at", .time(method.createdAt)),
        ])
    }

    func link(_ link: PaymentLink) -> JSON {
        .object([
            ("id", .string(link.id)), ("object", "payment_link"),
            ("url", .string(baseURL + signer.path(linkID: link.id, expiresAt: Int64(link.expiresAt.timeIntervalSince1970)))),
            ("amount", .int(link.amount.minorUnits)), ("currency", .string(link.amount.currency.code)), ("description", .string(link.description)),
            ("status", .string(link.status(at: Date()).rawValue)), ("expires_at", .time(link.expiresAt)), ("max_uses", .int(Int64(link.maxUses))),
            ("uses", .int(Int64(link.uses))), ("payment_methods", .array(link.paymentMethodIDs.map { .string($0) })),
            ("created_at", .time(link.createdAt)),
        ])
    }

    static func payment(_ payment: Payment) -> JSON {
        .object([
            ("id", .string(payment.id)), ("object", "payment"), ("status", .string(payment.status.rawValue)),
            ("amount", .int(payment.amount.minorUnits)), ("amount_refunded", .int(payment.amountRefunded)),
            ("currency", .string(payment.amount.currency.code)), ("description", .string(payment.description)),
            ("payment_link", .optional(payment.paymentLinkID)),
            (
                "card",
                payment.card.map {
                    .object([
                        ("brand", .string($0.brand.rawValue)), ("last4", .string($0.last4)), ("exp_month", .int(Int64($0.expMonth))),
                        ("exp_year", .int(Int64($0.expYear))),
                    ])
                } ?? .null
            ),
            ("failure_code", .optional(payment.failureCode?.rawValue)), ("email", .optional(payment.email)),
            ("payment_form", .optional(payment.paymentFormID)),
            ("custom_fields", .array(payment.customFields.map { .object([("label", .string($0.label)), ("value", .string($0.value))]) })),
            ("created_at", .time(payment.createdAt)),
        ])
    }

    static func refund(_ refund: Refund) -> JSON {
        .object([
            ("id", .string(refund.id)), ("object", "refund"), ("payment", .string(refund.paymentID)), ("amount", .int(refund.amount.minorUnits)),
            ("currency", .string(refund.amount.currency.code)), ("reason", .optional(refund.reason)), ("status", .string(refund.status)),
            ("created_at", .time(refund.createdAt)),
        ])
    }

    static func event(_ event: AccountEvent) -> JSON {
        .object([
            ("id", .string(event.id)), ("object", "event"), ("type", .string(event.type.rawValue)), ("created_at", .time(event.createdAt)),
            ("payment", .optional(event.paymentID)), ("payment_link", .optional(event.paymentLinkID)),
            ("data", .object([("object", .raw(event.data))])),
        ])
    }

    // MARK: issuers

    func issuers(_ request: Request, context: AppRequestContext) async throws -> Response {
        let catalog = try await payments.catalog()
        return Self.list(catalog.issuers.sorted { $0.id < $1.id }.map(Self.issuer), hasMore: false)
    }

    // MARK: payment methods

    func listMethods(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try Self.require("payment_methods:read", context)
        return Self.list(try await payments.methods.list(accountID: client.accountID).map(Self.method), hasMore: false)
    }

    func createMethod(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try Self.require("payment_methods:write", context)
        let body = try await Self.body(request, context: context, allowed: ["issuer", "currencies"])
        let issuer = try body.string("issuer", required: true)!
        let currencies = try body.strings("currencies", required: true)!
        let method = try await payments.methods.add(accountID: client.accountID, issuerID: issuer, currencies: currencies)
        return Self.method(method).response(status: .created)
    }

    func updateMethod(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try Self.require("payment_methods:write", context)
        let id = try context.parameters.require("id")
        let body = try await Self.body(request, context: context, allowed: ["currencies"])
        let currencies = try body.strings("currencies", required: true)!
        do {
            return Self.method(try await payments.methods.update(accountID: client.accountID, id: id, currencies: currencies)).response()
        } catch PaymentError.notFound {
            throw APIError.notFound("payment method")
        }
    }

    func deleteMethod(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try Self.require("payment_methods:write", context)
        let id = try context.parameters.require("id")
        do {
            try await payments.methods.remove(accountID: client.accountID, id: id)
        } catch PaymentError.notFound {
            throw APIError.notFound("payment method")
        }
        return JSON.object([("id", .string(id)), ("object", "payment_method"), ("deleted", true)]).response()
    }

    // MARK: payment links

    func listLinks(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try Self.require("payment_links:read", context)
        let (limit, after) = try Self.paging(request, prefix: "plink")
        let page = try await payments.links.page(accountID: client.accountID, after: after, limit: limit)
        return Self.list(page.links.map(link), hasMore: page.hasMore)
    }

    func createLink(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let client = context.apiClient else { throw APIError.unauthenticated }
        if !client.allows("payment_links:create") { _ = try Self.require("payment_links:write", context) }
        let body = try await Self.body(
            request, context: context, allowed: ["amount", "currency", "description", "expires_in", "max_uses", "payment_methods"]
        )
        // The body's shape here; the link's rules in PaymentLinks.problems, shared with the HTML form.
        let amount = try body.integer("amount", required: true)!
        let currency = try Self.currency(try body.string("currency", required: true))
        let description = try body.string("description", required: true, maxLength: .max)!
        let expiresIn = try body.integer("expires_in") ?? Int64(PaymentLinks.defaultLifetime)
        let maxUses = try body.integer("max_uses") ?? 1
        let methodIDs = try body.strings("payment_methods") ?? []
        let created = try await payments.links.create(
            accountID: client.accountID,
            .init(
                amount: Money(minorUnits: amount, currency: currency), description: description, expiresIn: Int(clamping: expiresIn),
                maxUses: Int(clamping: maxUses), paymentMethodIDs: methodIDs
            )
        )
        return link(created).response(status: .created)
    }

    func showLink(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try Self.require("payment_links:read", context)
        let id = try context.parameters.require("id")
        guard let found = try await payments.links.find(accountID: client.accountID, id: id) else { throw APIError.notFound("payment link") }
        return link(found).response()
    }

    func revokeLink(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try Self.require("payment_links:write", context)
        let id = try context.parameters.require("id")
        _ = try await Self.body(request, context: context, allowed: [])
        return link(try await payments.links.revoke(accountID: client.accountID, id: id)).response()
    }

    // MARK: payments and refunds

    func listPayments(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try Self.require("payments:read", context)
        let (limit, after) = try Self.paging(request, prefix: "pay")
        var filter = PaymentHistory.Filter()
        let query = request.uri.queryParameters
        if let link = query["payment_link"].map(String.init) {
            guard Identifier.isValid(link, prefix: "plink") else { throw APIError.invalid("payment_link", "`payment_link` must be a plink_ id.") }
            filter.linkID = link
        }
        if let status = query["status"].map(String.init) {
            guard let parsed = PaymentStatus(rawValue: status) else {
                throw APIError.invalid("status", "`status` must be one of \(PaymentStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            filter.statuses = [parsed]
        }
        let page = try await payments.history.page(accountID: client.accountID, filter: filter, after: after, limit: limit)
        return Self.list(page.payments.map(Self.payment), hasMore: page.nextCursor != nil)
    }

    func showPayment(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try Self.require("payments:read", context)
        let id = try context.parameters.require("id")
        guard let payment = try await payments.payment(accountID: client.accountID, id: id) else { throw APIError.notFound("payment") }
        return Self.payment(payment).response()
    }

    func createRefund(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try Self.require("payments:write", context)
        let id = try context.parameters.require("id")
        let body = try await Self.body(request, context: context, allowed: ["amount", "reason"])
        let amount = try body.integer("amount")
        if let amount, amount <= 0 { throw APIError.invalid("amount", "`amount` must be a positive integer of minor units.") }
        let reason = try body.string("reason")
        let (refund, _) = try await payments.refund(accountID: client.accountID, paymentID: id, amount: amount, reason: reason)
        return Self.refund(refund).response(status: .created)
    }

    func listRefunds(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try Self.require("payments:read", context)
        let id = try context.parameters.require("id")
        guard try await payments.payment(accountID: client.accountID, id: id) != nil else { throw APIError.notFound("payment") }
        return Self.list(try await payments.refunds(accountID: client.accountID, paymentID: id).map(Self.refund), hasMore: false)
    }

    // MARK: checkout sessions

    /// A signed address of one of the account's payment forms, optionally at a set amount:
    /// what a merchant's own page (with a publishable key) sends its customer to.
    func createCheckoutSession(_ request: Request, context: AppRequestContext) async throws -> Response {
        guard let client = context.apiClient else { throw APIError.unauthenticated }
        if !client.allows("checkout_sessions:create") { _ = try Self.require("payment_links:write", context) }
        let body = try await Self.body(request, context: context, allowed: ["form", "amount", "expires_in"])
        let formID = try body.string("form", required: true, maxLength: 100)!
        guard let form = try await payments.forms.find(accountID: client.accountID, id: formID) else {
            throw APIError.unprocessable("form_invalid", "No such payment form: \(formID).", param: "form")
        }
        guard form.isOpen(at: Date()) else { throw APIError.unprocessable("form_closed", "This payment form takes no more payments.", param: "form") }
        let amount = try body.integer("amount")
        if let amount {
            if let fixed = form.amount, amount != fixed {
                throw APIError.invalid("amount", "This form's amount is fixed at \(fixed); leave `amount` out.")
            }
            if form.amount == nil, amount < (form.minimum ?? 1) || amount > (form.maximum ?? payments.maximumAmount) {
                throw APIError.invalid("amount", "`amount` must be from \(form.minimum ?? 1) to \(form.maximum ?? payments.maximumAmount).")
            }
        }
        let lifetime = try body.integer("expires_in") ?? 3600
        guard (60...86400).contains(lifetime) else { throw APIError.invalid("expires_in", "`expires_in` must be from 60 to 86400 seconds.") }
        let expiresAt = Int64(Date().timeIntervalSince1970) + lifetime
        let sessionAmount = form.amount == nil ? amount : nil
        let url = baseURL + "/embed/forms/\(form.id)?" + signer.formSessionQuery(formID: form.id, amount: sessionAmount, expiresAt: expiresAt)
        return JSON.object([
            ("object", "checkout_session"), ("form", .string(form.id)), ("amount", (form.amount ?? sessionAmount).map { .int($0) } ?? .null),
            ("currency", .string(form.currency.code)), ("url", .string(url)), ("expires_at", .int(expiresAt)),
        ]).response(status: .created)
    }

    // MARK: events

    func listEvents(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try Self.require("events:read", context)
        let (limit, after) = try Self.paging(request, prefix: "evt")
        var type: EventType? = nil
        if let raw = request.uri.queryParameters["type"] {
            guard let known = EventType(rawValue: String(raw)) else {
                throw APIError.invalid("type", "`type` must be one of \(EventType.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            type = known
        }
        let page = try await payments.accountEvents(accountID: client.accountID, type: type, after: after, limit: limit)
        return Self.list(page.events.map(Self.event), hasMore: page.hasMore)
    }
}

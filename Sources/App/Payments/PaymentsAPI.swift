import Foundation
import Hummingbird
import PaymentCore

/// `/v1/payments`, their refunds, and `/v1/events` (the account's transaction log).
struct PaymentsAPI: Sendable {
    let payments: Payments
    let audit: AuditLog

    func addRoutes(to routes: APIRoutes) {
        let read = routes.needing("payments:read")
        read.get("payments", use: self.listPayments)
        read.get("payments/:id", use: self.showPayment)
        routes.needing("payments:write").post("payments/:id/refunds", use: self.createRefund)
        routes.needing("payments:write").post("payments/:id/capture", use: self.capture)
        routes.needing("payments:write").post("payments/:id/cancel", use: self.cancel)
        read.get("payments/:id/refunds", use: self.listRefunds)
        routes.needing("events:read").get("events", use: self.listEvents)
    }

    static func payment(_ payment: Payment) -> JSON {
        .object([
            ("id", .string(payment.id.rawValue)), ("object", "payment"), ("status", .string(payment.status.rawValue)),
            ("amount", .int(payment.amount.minorUnits)), ("amount_refunded", .int(payment.amountRefunded)),
            ("currency", .string(payment.amount.currency.code)), ("description", .string(payment.description)),
            ("payment_link", .optional(payment.paymentLinkID?.rawValue)),
            (
                "card",
                payment.card.map {
                    .object([
                        ("brand", .string($0.brand.rawValue)), ("last4", .string($0.last4)), ("exp_month", .int(Int64($0.expMonth))),
                        ("exp_year", .int(Int64($0.expYear))),
                    ])
                } ?? .null
            ),
            ("failure_code", .optional(payment.failureCode?.rawValue)),
            // DESIGN.md names the risk rules' refusal `decline_code`: the same code under that name.
            ("decline_code", .optional(payment.failureCode?.rawValue)), ("email", .optional(payment.email)),
            ("payment_form", .optional(payment.paymentFormID?.rawValue)), ("realm", .optional(payment.realm)),
            ("capture_method", .string(payment.captureMethod.rawValue)),
            (
                "risk",
                payment.riskScore.map { .object([("score", .int(Int64($0))), ("rules", .array(payment.riskRules.map { .string($0) }))]) } ?? .null
            ),
            (
                "amount_authorized",
                payment.amountAuthorized.map { .int($0) } ?? (payment.status == .authorized ? .int(payment.amount.minorUnits) : .null)
            ),
            ("custom_fields", .array(payment.customFields.map { .object([("label", .string($0.label)), ("value", .string($0.value))]) })),
            ("created_at", .time(payment.createdAt)),
        ])
    }

    static func refund(_ refund: Refund) -> JSON {
        .object([
            ("id", .string(refund.id)), ("object", "refund"), ("payment", .string(refund.paymentID.rawValue)),
            ("amount", .int(refund.amount.minorUnits)),
            ("currency", .string(refund.amount.currency.code)), ("reason", .optional(refund.reason)), ("status", .string(refund.status.rawValue)),
            ("created_at", .time(refund.createdAt)),
        ])
    }

    static func event(_ event: AccountEvent) -> JSON {
        .object([
            ("id", .string(event.id)), ("object", "event"), ("type", .string(event.type.rawValue)), ("created_at", .time(event.createdAt)),
            ("payment", .optional(event.paymentID?.rawValue)), ("payment_link", .optional(event.paymentLinkID?.rawValue)),
            ("data", .object([("object", .raw(event.data))])),
        ])
    }

    func listPayments(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let (limit, after) = try API.paging(request, prefix: "pay")
        var filter = PaymentHistory.Filter()
        let query = request.uri.queryParameters
        if let link = query["payment_link"].map(String.init) {
            guard Identifier.isValid(link, prefix: "plink") else { throw APIError.invalid("payment_link", "`payment_link` must be a plink_ id.") }
            filter.linkID = LinkID(link)
        }
        if let status = query["status"].map(String.init) {
            guard let parsed = PaymentStatus(rawValue: status) else {
                throw APIError.invalid("status", "`status` must be one of \(PaymentStatus.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            filter.statuses = [parsed]
        }
        if let realm = query["realm"].map(String.init) {
            guard Realm.isValid(realm) else { throw APIError.invalid("realm", Realm.problem(realm) ?? "") }
            filter.realm = realm
        }
        let (accountID, chosen) = (client.accountID, filter)
        let page = try await payments.reading(accountID) { try await $0.page(accountID: accountID, filter: chosen, after: after, limit: limit) }
        return API.list(page.payments.map(Self.payment), hasMore: page.nextCursor != nil)
    }

    func showPayment(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let id = try context.parameters.require("id", as: PaymentID.self)
        guard let payment = try await payments.payment(accountID: client.accountID, id: id) else { throw APIError.notFound("payment") }
        return Self.payment(payment).response()
    }

    func createRefund(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let id = try context.parameters.require("id", as: PaymentID.self)
        let body = try await API.body(request, context: context, allowed: ["amount", "reason"])
        let amount = try body.integer("amount")
        if let amount, amount <= 0 { throw APIError.invalid("amount", "`amount` must be a positive integer of minor units.") }
        let reason = try body.string("reason", maxLength: .max)  // its length is a refund rule (Payments.refundProblems)
        let (refund, _) = try await payments.refund(accountID: client.accountID, paymentID: id, amount: amount, reason: reason)
        await audit.record(
            accountID: client.accountID, userID: nil, actor: "API key \(client.keyID)", action: "payment.refunded",
            detail: "\(refund.amount.formatted) of \(id.rawValue) (\(refund.id))",
            client: context.remoteAddress)
        return Self.refund(refund).response(status: .created)
    }

    /// Captures all (no `amount`) or part of an authorized payment.
    func capture(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let id = try context.parameters.require("id", as: PaymentID.self)
        let body = try await API.body(request, context: context, allowed: ["amount"])
        let amount = try body.integer("amount")
        if let amount, amount <= 0 { throw APIError.invalid("amount", "`amount` must be a positive integer of minor units.") }
        let captured = try await payments.capture(accountID: client.accountID, paymentID: id, amount: amount)
        await audit.record(
            accountID: client.accountID, userID: nil, actor: "API key \(client.keyID)", action: "payment.captured",
            detail: "\(captured.amount.formatted) of \(id.rawValue)", client: context.remoteAddress)
        return Self.payment(captured).response()
    }

    /// Voids an authorized payment.
    func cancel(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let id = try context.parameters.require("id", as: PaymentID.self)
        _ = try await API.body(request, context: context, allowed: [])
        let voided = try await payments.cancel(accountID: client.accountID, paymentID: id)
        await audit.record(
            accountID: client.accountID, userID: nil, actor: "API key \(client.keyID)", action: "payment.voided", detail: id.rawValue,
            client: context.remoteAddress)
        return Self.payment(voided).response()
    }

    func listRefunds(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let id = try context.parameters.require("id", as: PaymentID.self)
        guard try await payments.payment(accountID: client.accountID, id: id) != nil else { throw APIError.notFound("payment") }
        return API.list(try await payments.refunds(accountID: client.accountID, paymentID: id).map(Self.refund), hasMore: false)
    }

    func listEvents(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let (limit, after) = try API.paging(request, prefix: "evt")
        var type: EventType? = nil
        if let raw = request.uri.queryParameters["type"] {
            guard let known = EventType(rawValue: String(raw)) else {
                throw APIError.invalid("type", "`type` must be one of \(EventType.allCases.map(\.rawValue).joined(separator: ", ")).")
            }
            type = known
        }
        let page = try await payments.accountEvents(accountID: client.accountID, type: type, after: after, limit: limit)
        return API.list(page.events.map(Self.event), hasMore: page.hasMore)
    }
}

import Foundation
import Hummingbird
import PaymentCore

/// `/v1/payment_links`: the same core operations as the links pages, as JSON.
struct LinksAPI: Sendable {
    let payments: Payments
    let signer: LinkSigner
    let baseURL: String
    let keys: APIKeys

    func addRoutes(to routes: APIRoutes) {
        routes.needing("payment_links:read").get("payment_links", use: self.listLinks)
        // A publishable key may create links (its only power), a secret key with the write scope too.
        routes.needing("payment_links:write", "payment_links:create").post("payment_links", use: self.createLink)
        routes.needing("payment_links:read").get("payment_links/:id", use: self.showLink)
        routes.needing("payment_links:write").post("payment_links/:id/revoke", use: self.revokeLink)
    }

    func link(_ link: PaymentLink) -> JSON {
        .object([
            ("id", .string(link.id.rawValue)), ("object", "payment_link"),
            ("url", .string(baseURL + signer.path(linkID: link.id, expiresAt: Int64(link.expiresAt.timeIntervalSince1970)))),
            ("amount", .int(link.amount.minorUnits)), ("currency", .string(link.amount.currency.code)), ("description", .string(link.description)),
            ("status", .string(link.status(at: Date()).rawValue)), ("expires_at", .time(link.expiresAt)), ("max_uses", .int(Int64(link.maxUses))),
            ("uses", .int(Int64(link.uses))), ("payment_methods", .array(link.paymentMethodIDs.map { .string($0.rawValue) })),
            ("realm", .optional(link.realm)), ("capture_method", .string(link.captureMethod.rawValue)), ("created_at", .time(link.createdAt)),
        ])
    }

    func listLinks(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let (limit, after) = try API.paging(request, prefix: "plink")
        let page = try await payments.links.page(accountID: client.accountID, after: after, limit: limit)
        return API.list(page.links.map(link), hasMore: page.hasMore)
    }

    func createLink(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let body = try await API.body(
            request, context: context,
            allowed: ["amount", "currency", "description", "expires_in", "max_uses", "payment_methods", "realm", "capture_method"]
        )
        // The body's shape here; the link's rules in PaymentLinks.problems, shared with the HTML form.
        let amount = try body.integer("amount", required: true)!
        let currency = try API.currency(try body.string("currency", required: true))
        let description = try body.string("description", required: true, maxLength: .max)!
        let expiresIn = try body.integer("expires_in") ?? Int64(PaymentLinks.defaultLifetime)
        let maxUses = try body.integer("max_uses") ?? 1
        let methodIDs = try body.strings("payment_methods") ?? []
        let realm = try body.string("realm", maxLength: .max)  // its shape is a link rule (PaymentLinks.problems)
        let capture = try body.string("capture_method", maxLength: 20).map { text in
            guard let method = CaptureMethod(rawValue: text) else {
                throw APIError.invalid("capture_method", "`capture_method` must be automatic or manual.")
            }
            return method
        }
        try await keys.checkPublishableAmount(Money(minorUnits: amount, currency: currency), client: client)
        let created = try await payments.links.create(
            accountID: client.accountID,
            .init(
                amount: Money(minorUnits: amount, currency: currency), description: description, expiresIn: Int(clamping: expiresIn),
                maxUses: Int(clamping: maxUses), paymentMethodIDs: methodIDs.map { MethodID(rawValue: $0) }, realm: realm,
                captureMethod: capture ?? .automatic
            )
        )
        return link(created).response(status: .created)
    }

    func showLink(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let id = try context.parameters.require("id", as: LinkID.self)
        guard let found = try await payments.links.find(accountID: client.accountID, id: id) else { throw APIError.notFound("payment link") }
        return link(found).response()
    }

    func revokeLink(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let id = try context.parameters.require("id", as: LinkID.self)
        _ = try await API.body(request, context: context, allowed: [])
        return link(try await payments.links.revoke(accountID: client.accountID, id: id)).response()
    }
}

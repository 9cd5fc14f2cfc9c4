import Foundation
import Hummingbird
import PaymentCore

/// `/v1/checkout_sessions`: signed addresses of the account's payment forms.
struct CheckoutSessionsAPI: Sendable {
    let payments: Payments
    let signer: LinkSigner
    let baseURL: String
    let keys: APIKeys

    func addRoutes(to routes: APIRoutes) {
        routes.needing("payment_links:write", "checkout_sessions:create").post("checkout_sessions", use: self.createCheckoutSession)
    }

    /// A signed address of one of the account's payment forms, optionally at a set amount:
    /// what a merchant's own page (with a publishable key) sends its customer to.
    func createCheckoutSession(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let body = try await API.body(request, context: context, allowed: ["form", "amount", "expires_in", "realm"])
        let formID = try body.string("form", required: true, maxLength: 100)!
        guard let form = try await payments.forms.find(accountID: client.accountID, id: FormID(formID)) else {
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
        let realm = try body.string("realm", maxLength: .max)
        if let realm, let problem = Realm.problem(realm) { throw APIError.invalid("realm", problem) }
        let lifetime = try body.integer("expires_in") ?? 3600
        guard (60...86400).contains(lifetime) else { throw APIError.invalid("expires_in", "`expires_in` must be from 60 to 86400 seconds.") }
        let expiresAt = Int64(Date().timeIntervalSince1970) + lifetime
        let sessionAmount = form.amount == nil ? amount : nil
        if let sessionAmount { try await keys.checkPublishableAmount(Money(minorUnits: sessionAmount, currency: form.currency), client: client) }
        let url =
            baseURL + "/embed/forms/\(form.id)?" + signer.formSessionQuery(formID: form.id, amount: sessionAmount, expiresAt: expiresAt, realm: realm)
        return JSON.object([
            ("object", "checkout_session"), ("form", .string(form.id.rawValue)), ("amount", (form.amount ?? sessionAmount).map { .int($0) } ?? .null),
            ("currency", .string(form.currency.code)), ("realm", .optional(realm ?? form.realm)), ("url", .string(url)),
            ("expires_at", .int(expiresAt)),
        ]).response(status: .created)
    }
}

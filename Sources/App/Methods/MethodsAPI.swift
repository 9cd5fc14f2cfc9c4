import Foundation
import Hummingbird
import PaymentCore

/// `/v1/issuers` (public) and `/v1/payment_methods`.
struct MethodsAPI: Sendable {
    let payments: Payments

    /// Routes that need no key.
    func addPublicRoutes(to router: RouterGroup<AppRequestContext>) {
        router.get("issuers", use: self.issuers)
    }

    func addRoutes(to routes: APIRoutes) {
        routes.needing("payment_methods:read").get("payment_methods", use: self.listMethods)
        let write = routes.needing("payment_methods:write")
        write.post("payment_methods", use: self.createMethod)
        write.post("payment_methods/:id", use: self.updateMethod)
        write.delete("payment_methods/:id", use: self.deleteMethod)
    }

    static func issuer(_ issuer: Issuer) -> JSON {
        .object([
            ("id", .string(issuer.id)), ("name", .string(issuer.name)), ("network", .string(issuer.network.rawValue)),
            ("currencies", .array(issuer.currencies.map { .string($0.code) })),
        ])
    }

    static func method(_ method: PaymentMethod) -> JSON {
        .object([
            ("id", .string(method.id.rawValue)), ("object", "payment_method"), ("issuer", .string(method.issuerID)),
            ("currencies", .array(method.currencies.map { .string($0.code) })), ("created_at", .time(method.createdAt)),
        ])
    }

    func issuers(_ request: Request, context: AppRequestContext) async throws -> Response {
        let catalog = try await payments.catalog()
        return API.list(catalog.issuers.sorted { $0.id < $1.id }.map(Self.issuer), hasMore: false)
    }

    func listMethods(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        return API.list(try await payments.methods.list(accountID: client.accountID).map(Self.method), hasMore: false)
    }

    func createMethod(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let body = try await API.body(request, context: context, allowed: ["issuer", "currencies"])
        let issuer = try body.string("issuer", required: true)!
        let currencies = try body.strings("currencies", required: true)!
        let method = try await payments.methods.add(accountID: client.accountID, issuerID: issuer, currencies: currencies)
        return Self.method(method).response(status: .created)
    }

    func updateMethod(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let id = try context.parameters.require("id", as: MethodID.self)
        let body = try await API.body(request, context: context, allowed: ["currencies"])
        let currencies = try body.strings("currencies", required: true)!
        do {
            return Self.method(try await payments.methods.update(accountID: client.accountID, id: id, currencies: currencies)).response()
        } catch PaymentError.notFound {
            throw APIError.notFound("payment method")
        }
    }

    func deleteMethod(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let id = try context.parameters.require("id", as: MethodID.self)
        do {
            try await payments.methods.remove(accountID: client.accountID, id: id)
        } catch PaymentError.notFound {
            throw APIError.notFound("payment method")
        }
        return JSON.object([("id", .string(id.rawValue)), ("object", "payment_method"), ("deleted", true)]).response()
    }
}

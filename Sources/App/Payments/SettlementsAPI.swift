import Foundation
import Hummingbird
import PaymentCore

/// `/v1/settlements`: the merchant's closed days, newest first, and one with its totals.
struct SettlementsAPI: Sendable {
    let settlements: Settlements

    func addRoutes(to routes: APIRoutes) {
        let read = routes.needing("payments:read")
        read.get("settlements", use: self.list)
        read.get("settlements/:id", use: self.show)
    }

    static func settlement(_ settlement: Settlement) -> JSON {
        .object([
            ("id", .string(settlement.id)), ("object", "settlement"), ("status", .string(settlement.status.rawValue)),
            ("currency", .string(settlement.net.currency.code)), ("realm", .optional(settlement.realm)), ("period_start", .time(settlement.day)),
            ("period_end", .time(settlement.day.addingTimeInterval(86400))), ("gross", .int(settlement.gross.minorUnits)),
            ("refunds", .int(settlement.refunds.minorUnits)), ("fees", .int(settlement.fees.minorUnits)), ("net", .int(settlement.net.minorUnits)),
            ("payment_count", .int(Int64(settlement.paymentCount))), ("created_at", .time(settlement.createdAt)),
            ("paid_at", settlement.paidAt.map { .time($0) } ?? .null),
        ])
    }

    func list(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let (limit, after) = try API.paging(request, prefix: "stl")
        let page = try await settlements.list(accountID: client.accountID, before: after, limit: limit)
        return API.list(page.settlements.map(Self.settlement), hasMore: page.hasMore)
    }

    func show(_ request: Request, context: AppRequestContext) async throws -> Response {
        let client = try API.client(context)
        let id = try context.parameters.require("id")
        guard Identifier.isValid(id, prefix: "stl"), let found = try await settlements.find(accountID: client.accountID, id: id) else {
            throw APIError.notFound("settlement")
        }
        return Self.settlement(found).response()
    }
}

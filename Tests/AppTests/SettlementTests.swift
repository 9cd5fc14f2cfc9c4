import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import PaymentCore
import Testing

@testable import App

@Suite("Settlements: each UTC day per currency, from the ledger, once")
struct SettlementTests {
    /// Runs `body` with a client on the app's database (the app's own workers are off in tests).
    static func withSettlements<T: Sendable>(_ app: TestApp, _ body: @Sendable (Settlements) async throws -> T) async throws -> T {
        var database = app.configuration.database
        database.maximumConnections = 2
        return try await DatabaseTools.withClient(database, logger: TestServices.logger) { client in
            try await body(Settlements(database: client, logger: TestServices.logger))
        }
    }

    /// Two EUR payments (one partly refunded), one USD payment and a decline, with fees of 2.5% +
    /// 0.30: closing the day makes one settlement per currency whose numbers are the ledger's;
    /// closing again makes nothing; the payout marks them paid and logs `settlement.paid`. The
    /// pages, the CSV and the API show them. A settlement whose numbers were changed is caught.
    @Test func aDayClosesIntoOneSettlementPerCurrency() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (merchant, key) = try await Browser.merchantWithKey(client)
            // Fees, set by the owner on the settlements page; a wrong value is named and changes nothing.
            _ = try await merchant.get("/settlements")
            for (percent, fixed, field) in [
                ("101", "0", "fee_percent"), ("2.555", "0", "fee_percent"), ("abc", "0", "fee_percent"), ("-1", "0", "fee_percent"),
                ("2", "-1", "fee_fixed"), ("2", "1.5", "fee_fixed"), ("2", "100001", "fee_fixed"),
            ] {
                let refused = try await merchant.post("/settlements/fees", [("fee_percent", percent), ("fee_fixed", fixed)])
                #expect(refused.status == .unprocessableContent, "\(percent) \(fixed)")
                #expect(Browser.fieldError(in: refused.body, field: field) != nil, "\(percent) \(fixed)")
            }
            #expect(try await app.count("SELECT count(*) FROM accounts WHERE fee_basis_points <> 0 OR fee_fixed_minor <> 0") == 0)
            #expect(try await merchant.post("/settlements/fees", [("fee_percent", "2.5"), ("fee_fixed", "30")]).location == "/settlements")
            #expect(try await merchant.get("/settlements").body.contains("2.5% of each captured payment plus 30"))
            var paid: [String] = []
            for (amount, currency) in [("10.00", "EUR"), ("20.00", "EUR"), ("5.00", "USD")] {
                let link = try await merchant.createLink(amount: amount, currency: currency)
                _ = try await Browser(client).pay(link.path)
                paid.append(try #require(try await app.text("SELECT id FROM payments ORDER BY created_at DESC LIMIT 1")))
            }
            let declined = try await merchant.createLink(amount: "7.00")
            _ = try await Browser(client).pay(declined.path, card: [("card_number", "4000 0000 0000 0002")] + Browser.goodCard.dropFirst())
            let refund = try await client.api(.post, "/v1/payments/\(paid[1])/refunds", key: key, json: #"{"amount":500}"#)
            #expect(refund.status == .created)
            try await app.drain()

            let tomorrow = UTCDay.start(of: Date()).addingTimeInterval(86400)
            let (made, again, problems, payouts) = try await Self.withSettlements(app) { settlements in
                let made = try await settlements.close(until: tomorrow)
                let again = try await settlements.close(until: tomorrow)
                let problems = try await settlements.discrepancies()
                let payouts = try await settlements.payOut()
                return (made, again, problems, payouts)
            }
            #expect(made == 2)
            #expect(again == 0, "closing again makes nothing")
            #expect(problems.isEmpty, "\(problems)")
            #expect(payouts == 2)
            #expect(try await app.count("SELECT count(*) FROM payment_events WHERE type = 'settlement.paid'") == 2)

            let list = try await client.api(.get, "/v1/settlements", key: key)
            let data = try #require(list.json["data"] as? [[String: Any]])
            #expect(data.count == 2)
            let eur = try #require(data.first { $0["currency"] as? String == "EUR" })
            #expect(eur["gross"] as? Int == 3000 && eur["refunds"] as? Int == 500)
            #expect(eur["fees"] as? Int == (25 + 30) + (50 + 30))
            #expect(eur["net"] as? Int == 3000 - 500 - 135)
            #expect(eur["payment_count"] as? Int == 2 && eur["status"] as? String == "paid")
            let id = try #require(eur["id"] as? String)
            #expect(try await client.api(.get, "/v1/settlements/\(id)", key: key).json["net"] as? Int == 2365)
            #expect(try await client.api(.get, "/v1/settlements/stl_000000000000000000000000", key: key).status == .notFound)

            let page = try await merchant.get("/settlements")
            #expect(page.body.contains("/settlements/\(id)") && page.body.contains("€23.65"))
            let one = try await merchant.get("/settlements/\(id)")
            #expect(one.status == .ok)
            for payment in paid.prefix(2) { #expect(one.body.contains("/payments/\(payment)")) }
            #expect(!one.body.contains("/payments/\(paid[2])"), "the USD payment is in the USD settlement")
            let csv = try await merchant.get("/settlements/\(id)/payments.csv")
            #expect(csv.body.split(whereSeparator: \.isNewline).count == 4, "a header, two captures and a refund")
            #expect(csv.body.contains(",refund,5.00,EUR,"))
            #expect(try await merchant.get("/settlements/stl_000000000000000000000000").status == .notFound)

            // Another merchant sees none of it.
            let (_, otherKey) = try await Browser.merchantWithKey(client, name: "Other")
            #expect(try await client.api(.get, "/v1/settlements/\(id)", key: otherKey).status == .notFound)

            // The check can fail: a settlement that no longer matches the ledger is named.
            try await app.execute("UPDATE settlements SET gross = gross + 1, net = net + 1 WHERE id = \(id)")
            let caught = try await Self.withSettlements(app) { try await $0.discrepancies() }
            #expect(caught.contains { $0.contains(id) }, "\(caught)")
        }
    }

    /// A merchant who splits settlements by realm gets one per site each day (payments without a
    /// realm share one), and the day still reconciles whole to the ledger.
    @Test func settlementsSplitByRealm() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (merchant, key) = try await Browser.merchantWithKey(client)
            _ = try await merchant.get("/settlements")
            #expect(try await merchant.post("/settlements/split", [("split_by_realm", "on")]).location == "/settlements")
            for realm in ["a.example", "b.example", nil] {
                let body =
                    realm.map { #"{"amount":1000,"currency":"EUR","description":"x","realm":"\#($0)"}"# }
                    ?? #"{"amount":1000,"currency":"EUR","description":"x"}"#
                let link = try await client.api(.post, "/v1/payment_links", key: key, json: body)
                let url = try #require(link.json["url"] as? String)
                _ = try await Browser(client).pay(String(url.dropFirst("http://127.0.0.1:8080".count)))
            }
            try await app.drain()
            let tomorrow = UTCDay.start(of: Date()).addingTimeInterval(86400)
            let (made, problems) = try await Self.withSettlements(app) { settlements in
                (try await settlements.close(until: tomorrow), try await settlements.discrepancies())
            }
            #expect(made == 3)
            #expect(problems.isEmpty, "\(problems)")
            let data = try #require(try await client.api(.get, "/v1/settlements", key: key).json["data"] as? [[String: Any]])
            #expect(Set(data.compactMap { $0["realm"] as? String }) == ["a.example", "b.example"])
            #expect(data.allSatisfy { $0["gross"] as? Int == 1000 })
            #expect(try await merchant.get("/settlements").body.contains("· a.example"))
        }
    }

    /// The payout's notification names the amount and links to the settlement.
    @Test func aPayoutsNotificationSaysWhatWasPaid() {
        let (title, body, link) = EventConsumers.payoutWords(
            #"{"amount": 2365, "currency": "EUR", "day": "2026-12-01", "settlement": "stl_AAAAAAAAAAAAAAAAAAAAAAAA", "status": "paid"}"#)
        #expect(title == "Payout of €23.65 sent")
        #expect(body.contains("2026-12-01"))
        #expect(link == "/settlements/stl_AAAAAAAAAAAAAAAAAAAAAAAA")
    }
}

import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import PaymentCore
import Testing

@testable import App

@Suite("Risk rules before the issuer")
struct RiskTests {
    static func card(_ number: String) -> [(String, String)] {
        [("card_number", number)] + Browser.goodCard.dropFirst()
    }

    /// The test card 4100 0000 0000 0019 is refused by every merchant without asking the issuer; a
    /// velocity limit of 3 an hour on a card refuses its 4th payment; the score and the rules that
    /// fired are on the payment's page and in the API; "Mark as fraud" blocks the card from then on.
    @Test func blockedTestCardVelocityAndMarkedFraud() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (merchant, key) = try await Browser.merchantWithKey(client)
            let link = try await merchant.createLink(amount: "9.00", uses: 20)

            _ = try await Browser(client).pay(link.path, card: Self.card("4100 0000 0000 0019"))
            let blocked = try #require(try await app.text("SELECT id FROM payments ORDER BY created_at DESC LIMIT 1"))
            let shown = try await client.api(.get, "/v1/payments/\(blocked)", key: key)
            #expect(shown.json["status"] as? String == "failed" && shown.json["failure_code"] as? String == "fraud_suspected")
            #expect(shown.json["decline_code"] as? String == "fraud_suspected", "DESIGN.md's name for it")
            let risk = try #require(shown.json["risk"] as? [String: Any])
            #expect((risk["rules"] as? [String]) == ["test_card_blocked"])
            #expect((risk["score"] as? Int ?? 0) >= 90)
            #expect(
                try await app.count(
                    "SELECT count(*) FROM simulator_authorizations s JOIN payments p ON p.attempt_id = s.attempt_id WHERE p.id = \(blocked)") == 0,
                "the issuer never heard of it")

            // Rules through the API: checked whole, nothing changes on a mistake.
            for (body, param) in [
                (#"{"velocity_card_per_hour":0}"#, "velocity_card_per_hour"), (#"{"blocked_countries":["USA"]}"#, "blocked_countries"),
                (#"{"blocked_emails":["not an email"]}"#, "blocked_emails"), (#"{"score_threshold":101}"#, "score_threshold"),
                (#"{"max_amount":-5}"#, "max_amount"), (#"{"velocity":3}"#, "velocity"),
            ] {
                let refused = try await client.api(.put, "/v1/risk_rules", key: key, json: body)
                #expect(refused.status == .unprocessableContent || refused.status == .badRequest, "\(body)")
                #expect(refused.param == param, "\(body)")
            }
            #expect(try await app.count("SELECT count(*) FROM risk_rules") == 0)
            let set = try await client.api(
                .put, "/v1/risk_rules", key: key, json: #"{"velocity_card_per_hour":3,"blocked_emails":["Blocked.Example"]}"#)
            #expect(set.status == .ok)
            #expect(set.json["velocity_card_per_hour"] as? Int == 3 && set.json["max_amount"] is NSNull)
            #expect((set.json["blocked_emails"] as? [String]) == ["blocked.example"])
            #expect(try await client.api(.get, "/v1/risk_rules", key: key).json["velocity_card_per_hour"] as? Int == 3)

            // The same card: three go through, the fourth in the hour is refused.
            let visa = Self.card("4242 4242 4242 4242")
            for _ in 0..<3 { _ = try await Browser(client).pay(link.path, card: visa) }
            _ = try await Browser(client).pay(link.path, card: visa)
            let statuses = try await app.texts(
                "SELECT status || ':' || coalesce(failure_code, '') FROM payments WHERE card_last4 = '4242' ORDER BY created_at")
            #expect(statuses == ["succeeded:", "succeeded:", "succeeded:", "failed:fraud_suspected"], "\(statuses)")
            #expect(try await app.count("SELECT count(*) FROM payments WHERE 'velocity_card' = ANY(risk_rules)") == 1)
            // A blocked email domain, whatever the card.
            _ = try await Browser(client).pay(
                link.path,
                card: [("card_number", "5555 5555 5555 4444")] + Browser.goodCard.dropFirst().filter { $0.0 != "email" } + [
                    ("email", "mo@blocked.example")
                ])
            #expect(try await app.count("SELECT count(*) FROM payments WHERE 'blocked_email' = ANY(risk_rules)") == 1)

            // The page shows the score and rules; marking a payment as fraud blocks its card.
            let page = try await merchant.get("/payments/\(blocked)")
            #expect(page.body.contains("<dt>Risk</dt>") && page.body.contains("test_card_blocked"))
            let good = try #require(
                try await app.text("SELECT id FROM payments WHERE card_last4 = '4444' OR status = 'succeeded' ORDER BY created_at LIMIT 1"))
            _ = try await merchant.get("/payments/\(good)")
            #expect(try await merchant.post("/payments/\(good)/fraud", []).location == "/payments/\(good)")
            #expect(try await app.count("SELECT cardinality(blocked_cards) FROM risk_rules") == 1)
            try await app.execute("UPDATE risk_rules SET velocity_card_per_hour = NULL")
            _ = try await Browser(client).pay(link.path, card: visa)
            #expect(try await app.count("SELECT count(*) FROM payments WHERE 'blocked_card' = ANY(risk_rules)") == 1)
        }
    }

    /// The rules' page: owners save them, a wrong value is named next to its field and saves nothing.
    @Test func theRulesPage() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            let page = try await merchant.get("/settings/risk")
            #expect(page.status == .ok && page.body.contains("Suggested: 5"))
            for (field, value) in [
                ("max_amount", "-1"), ("velocity_ip_per_hour", "abc"), ("blocked_countries", "Germany"), ("score_threshold", "500"),
                ("blocked_emails", "@@"),
            ] {
                let refused = try await merchant.post("/settings/risk", [(field, value)])
                #expect(refused.status == .unprocessableContent, "\(field)")
                #expect(Browser.fieldError(in: refused.body, field: field) != nil, "\(field)")
            }
            #expect(try await app.count("SELECT count(*) FROM risk_rules") == 0)
            let saved = try await merchant.post(
                "/settings/risk", [("max_amount", "100000"), ("blocked_countries", "ru, ng"), ("score_threshold", "80")])
            #expect(saved.location == "/settings/risk")
            #expect(try await app.text("SELECT array_to_string(blocked_countries, ',') FROM risk_rules") == "RU,NG")
        }
    }
}

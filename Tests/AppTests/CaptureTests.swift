import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import PaymentCore
import Testing

@testable import App

@Suite("Authorize now, capture later")
struct CaptureTests {
    /// A manual-capture link paid with 4242… ends `authorized` and moves no money; a capture above
    /// the authorization is refused; a partial capture gives `succeeded` with the captured amount and
    /// moves exactly that in the ledger; a second capture is refused; a refund applies to what was
    /// captured. Another authorization is voided: `canceled`, and its single-use link opens again.
    @Test func captureAndVoidThroughTheAPI() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (_, key) = try await Browser.merchantWithKey(client)
            func manualLink() async throws -> (String, String) {
                let made = try await client.api(
                    .post, "/v1/payment_links", key: key,
                    json: #"{"amount":2500,"currency":"EUR","description":"Made to order","capture_method":"manual"}"#)
                #expect(made.json["capture_method"] as? String == "manual")
                let url = try #require(made.json["url"] as? String)
                return (try #require(made.json["id"] as? String), String(url.dropFirst("http://127.0.0.1:8080".count)))
            }
            #expect(
                try await client.api(
                    .post, "/v1/payment_links", key: key, json: #"{"amount":100,"currency":"EUR","description":"x","capture_method":"later"}"#
                ).param == "capture_method")

            let (_, path) = try await manualLink()
            let payer = Browser(client)
            let (_, result) = try await payer.pay(path)
            let receipt = try await payer.get(try #require(result.location))
            #expect(receipt.body.contains("Payment authorized"), "the payer reads that nothing is charged yet")
            let id = try #require(try await app.text("SELECT id FROM payments ORDER BY created_at DESC LIMIT 1"))
            let authorized = try await client.api(.get, "/v1/payments/\(id)", key: key)
            #expect(authorized.json["status"] as? String == "authorized")
            #expect(authorized.json["amount_authorized"] as? Int == 2500)
            try await app.drain()
            #expect(try await app.count("SELECT count(*) FROM ledger_transfers WHERE payment_id = \(id)") == 0, "nothing moves before the capture")
            #expect(try await client.api(.post, "/v1/payments/\(id)/refunds", key: key, json: "{}").code == "payment_not_refundable")

            let tooMuch = try await client.api(.post, "/v1/payments/\(id)/capture", key: key, json: #"{"amount":2501}"#)
            #expect(tooMuch.status == .unprocessableContent && tooMuch.code == "amount_too_large" && tooMuch.param == "amount")
            #expect(try await client.api(.post, "/v1/payments/\(id)/capture", key: key, json: #"{"amount":0}"#).param == "amount")
            let captured = try await client.api(.post, "/v1/payments/\(id)/capture", key: key, json: #"{"amount":1500}"#)
            #expect(captured.status == .ok)
            #expect(captured.json["status"] as? String == "succeeded")
            #expect(captured.json["amount"] as? Int == 1500 && captured.json["amount_authorized"] as? Int == 2500)
            let again = try await client.api(.post, "/v1/payments/\(id)/capture", key: key, json: "{}")
            #expect(again.status == .conflict && again.code == "payment_state_invalid")
            #expect(try await client.api(.post, "/v1/payments/\(id)/cancel", key: key, json: "{}").status == .conflict)
            try await app.drain()
            #expect(try await app.count("SELECT coalesce(sum(amount), 0)::bigint FROM ledger_transfers WHERE payment_id = \(id)") == 1500)
            #expect(
                try await app.count(
                    "SELECT count(*) FROM payment_events WHERE payment_id = \(id) AND type IN ('payment.authorized', 'payment.captured')")
                    == 2)
            let overRefund = try await client.api(.post, "/v1/payments/\(id)/refunds", key: key, json: #"{"amount":1501}"#)
            #expect(overRefund.code == "refund_exceeds_captured")
            #expect(try await client.api(.post, "/v1/payments/\(id)/refunds", key: key, json: #"{"amount":1500}"#).status == .created)

            // Voided: canceled, nothing moved, and the single-use link takes a payment again.
            let (linkID, second) = try await manualLink()
            _ = try await Browser(client).pay(second)
            let other = try #require(try await app.text("SELECT id FROM payments WHERE payment_link_id = \(linkID)"))
            #expect(try await client.api(.get, "/v1/payment_links/\(linkID)", key: key).json["status"] as? String == "completed")
            let voided = try await client.api(.post, "/v1/payments/\(other)/cancel", key: key, json: "{}")
            #expect(voided.json["status"] as? String == "canceled")
            #expect(try await client.api(.get, "/v1/payment_links/\(linkID)", key: key).json["status"] as? String == "active")
            let (_, retried) = try await Browser(client).pay(second)
            #expect(retried.location?.hasPrefix("/receipts/") == true, "paid again: \(retried.status)")
            try await app.drain()
            #expect(try await app.count("SELECT count(*) FROM ledger_transfers WHERE payment_id = \(other)") == 0)

            // The kept day totals agree with the payments: nothing left counted as authorized but the open one.
            #expect(try await app.count("SELECT coalesce(sum(count), 0)::bigint FROM payment_totals WHERE status = 'authorized'") == 1)
            #expect(try await app.count("SELECT coalesce(sum(amount), 0)::bigint FROM payment_totals WHERE status = 'authorized'") == 2500)
            #expect(try await app.count("SELECT coalesce(sum(amount), 0)::bigint FROM payment_totals WHERE status = 'refunded'") == 1500)

            // Nobody captured the last one within its days: the worker voids it, once.
            try await app.execute("UPDATE payments SET authorized_at = now() - interval '8 days' WHERE status = 'authorized'")
            var database = app.configuration.database
            database.maximumConnections = 2
            let configuration = app.configuration
            let (expired, none) = try await DatabaseTools.withClient(database, logger: TestServices.logger) { client in
                let payments = Payments.make(configuration: configuration, database: client, logger: TestServices.logger)
                return (try await payments.voidExpiredAuthorizations(days: 7), try await payments.voidExpiredAuthorizations(days: 7))
            }
            #expect(expired == 1 && none == 0)
            #expect(try await app.count("SELECT count(*) FROM payments WHERE status = 'authorized'") == 0)
            #expect(
                try await app.count(
                    "SELECT count(*) FROM payment_events WHERE type = 'payment.canceled' AND data->>'reason' = 'authorization_expired'") == 1)
        }
    }

    /// On the payment's page: a capture form for an authorized payment, its bad amounts named next
    /// to the field, a capture, and for another payment the void.
    @Test func captureAndVoidOnThePaymentsPage() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            _ = try await merchant.get("/links/new")
            let wrong = try await merchant.post(
                "/links", [("amount", "30.00"), ("currency", "EUR"), ("description", "x"), ("expires_in", "604800"), ("capture_method", "soon")])
            #expect(Browser.fieldError(in: wrong.body, field: "capture_method") != nil)
            var ids: [String] = []
            for _ in 0..<2 {
                _ = try await merchant.get("/links/new")
                let made = try await merchant.post(
                    "/links",
                    [("amount", "30.00"), ("currency", "EUR"), ("description", "Bespoke"), ("expires_in", "604800"), ("capture_method", "manual")])
                let page = try await merchant.get(try #require(made.location))
                let url = try #require(Browser.attribute(in: page.body, after: #"id="link-url" type="text" readonly value=""#))
                _ = try await Browser(client).pay(String(url.dropFirst("http://127.0.0.1:8080".count)).replacingOccurrences(of: "&amp;", with: "&"))
                ids.append(try #require(try await app.text("SELECT id FROM payments ORDER BY created_at DESC LIMIT 1")))
            }
            let page = try await merchant.get("/payments/\(ids[0])")
            #expect(page.body.contains("Authorized") && page.body.contains(#"action="/payments/\#(ids[0])/capture""#))
            for (typed, words) in [("abc", "amount"), ("30.01", "at most €30.00")] {
                let refused = try await merchant.post("/payments/\(ids[0])/capture", [("capture_amount", typed)])
                #expect(refused.status == .unprocessableContent)
                #expect(Browser.fieldError(in: refused.body, field: "capture_amount")?.contains(words) == true, "\(typed)")
            }
            #expect(try await merchant.post("/payments/\(ids[0])/capture", [("capture_amount", "12.50")]).location == "/payments/\(ids[0])")
            let done = try await merchant.get("/payments/\(ids[0])")
            #expect(done.body.contains("Payment captured") && done.body.contains("€12.50") && !done.body.contains("/capture\""))
            #expect(try await merchant.post("/payments/\(ids[1])/cancel", []).location == "/payments/\(ids[1])")
            #expect(try await app.text("SELECT status FROM payments WHERE id = \(ids[1])") == "canceled")
            #expect(try await merchant.post("/payments/\(ids[1])/cancel", []).status == .conflict)
        }
    }
}

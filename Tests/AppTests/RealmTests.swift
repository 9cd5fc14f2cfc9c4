import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import PaymentCore
import Testing

@testable import App

@Suite("Realms: payments grouped by the site they were made for (seed 004)")
struct RealmTests {
    /// A link created with `realm: "shop.example"` gives payments whose API objects, CSV rows and
    /// pages carry it, and `?realm=` lists exactly them, in the API and on the history page. A form
    /// has its realm, and a signed checkout session may name another. A bad realm is refused by
    /// name and creates nothing.
    @Test func aLinksRealmFollowsItsPayments() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (merchant, key) = try await Browser.merchantWithKey(client)
            let made = try await client.api(
                .post, "/v1/payment_links", key: key, json: #"{"amount":1500,"currency":"EUR","description":"Mugs","realm":"shop.example"}"#)
            #expect(made.status == .created)
            #expect(made.json["realm"] as? String == "shop.example")
            let plain = try await client.api(.post, "/v1/payment_links", key: key, json: #"{"amount":900,"currency":"EUR","description":"Tea"}"#)
            #expect(plain.json["realm"] is NSNull)
            for bad in ["", "shop example", String(repeating: "a", count: 65), "shöp.example"] {
                let refused = try await client.api(
                    .post, "/v1/payment_links", key: key, json: #"{"amount":900,"currency":"EUR","description":"Tea","realm":"\#(bad)"}"#)
                #expect(refused.status == .unprocessableContent, "\(bad): \(refused.status)")
                #expect(refused.param == "realm")
            }
            #expect(try await app.count("SELECT count(*) FROM payment_links") == 2)

            for link in [made, plain] {
                let url = try #require(link.json["url"] as? String)
                _ = try await Browser(client).pay(String(url.dropFirst("http://127.0.0.1:8080".count)))
            }
            let listed = try await client.api(.get, "/v1/payments?realm=shop.example", key: key)
            let data = try #require(listed.json["data"] as? [[String: Any]])
            #expect(data.count == 1)
            #expect(data.first?["realm"] as? String == "shop.example" && data.first?["amount"] as? Int == 1500)
            let all = try #require(try await client.api(.get, "/v1/payments", key: key).json["data"] as? [[String: Any]])
            #expect(all.count == 2)
            #expect(all.contains { $0["realm"] is NSNull })
            #expect(try await client.api(.get, "/v1/payments?realm=no%20such", key: key).param == "realm")
            let paymentID = try #require(data.first?["id"] as? String)
            #expect(try await client.api(.get, "/v1/payments/\(paymentID)", key: key).json["realm"] as? String == "shop.example")
            // The event log's first event keeps it too (what webhooks announce is the payment object above).
            #expect(
                try await app.count(
                    "SELECT count(*) FROM payment_events WHERE type = 'payment.created' AND data->>'realm' = 'shop.example'") == 1)

            // The history page: a Site filter with the account's realms, listing exactly them.
            let history = try await merchant.get("/payments")
            #expect(history.body.contains(#"<option value="shop.example">shop.example</option>"#))
            let filtered = try await merchant.get("/payments?realm=shop.example")
            #expect(filtered.body.contains(paymentID))
            #expect(filtered.body.components(separatedBy: "/payments/pay_").count - 1 == 1)
            let badFilter = try await merchant.get("/payments?realm=a%20b")
            #expect(badFilter.status == .badRequest)
            #expect(Browser.fieldError(in: badFilter.body, field: "realm") != nil)
            let csv = try await merchant.get("/payments.csv?realm=shop.example")
            let lines = csv.body.split(whereSeparator: \.isNewline)
            #expect(lines.count == 2)
            #expect(lines.first?.hasSuffix(",realm") == true && lines.last?.hasSuffix(",shop.example") == true)
            #expect(try await merchant.get("/payments/\(paymentID)").body.contains(#"<a href="/payments?realm=shop.example">shop.example</a>"#))

            // The dashboard's charts narrowed to one site: its payments only, summed from them.
            try await app.drain()
            let narrowed = try await merchant.get("/dashboard?realm=shop.example")
            #expect(narrowed.body.contains("Last 30 days on shop.example"))
            let chart = String(narrowed.body.split(separator: "Last 30 days on shop.example").last?.split(separator: "</section>").first ?? "")
            #expect(
                chart.contains("€15.00") && !chart.contains("€24.00"), "1500 on the site, not the 2400 of both (the balance above is the account's)")
            let whole = try await merchant.get("/dashboard?realm=nowhere.example")
            #expect(whole.body.contains("Last 30 days</h2>"), "a realm the account does not name shows every site")

            // The link form: a realm next to the other fields, named when it is wrong.
            _ = try await merchant.get("/links/new")
            let wrong = try await merchant.post(
                "/links", [("amount", "5.00"), ("currency", "EUR"), ("description", "x"), ("expires_in", "604800"), ("realm", "no spaces")])
            #expect(wrong.status == .unprocessableContent)
            #expect(Browser.fieldError(in: wrong.body, field: "realm") != nil)
            let right = try await merchant.post(
                "/links", [("amount", "5.00"), ("currency", "EUR"), ("description", "x"), ("expires_in", "604800"), ("realm", "b.example")])
            let linkPage = try await merchant.get(try #require(right.location))
            #expect(linkPage.body.contains("b.example"))
        }
    }

    /// A form's realm goes to its payments; a checkout session's signed realm wins over it, and a
    /// session whose realm was changed in its address is refused.
    @Test func aFormsRealmAndASessionsOwn() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (merchant, key) = try await Browser.merchantWithKey(client)
            let formID = try await FormsTests.createForm(merchant, overriding: [("realm", "forms.example")])
            let session = try await client.api(
                .post, "/v1/checkout_sessions", key: key, json: #"{"form":"\#(formID)","realm":"sale.example"}"#)
            #expect(session.status == .created)
            #expect(session.json["realm"] as? String == "sale.example")
            let url = try #require(session.json["url"] as? String)
            let query = String(url[try #require(url.firstIndex(of: "?"))...])
            #expect(query.contains("realm=sale.example"))
            let tampered = query.replacingOccurrences(of: "realm=sale.example", with: "realm=other.example")
            #expect(try await Browser(client).get("/embed/forms/\(formID)\(tampered)").status == .forbidden)
            let fields = FormsTests.card + [("f1", "42")]
            _ = try await FormsTests.payForm(client, formID, fields: fields, query: query)
            _ = try await FormsTests.payForm(client, formID, fields: fields)
            #expect(try await app.count("SELECT count(*) FROM payments WHERE realm = 'sale.example'") == 1)
            #expect(try await app.count("SELECT count(*) FROM payments WHERE realm = 'forms.example'") == 1)
            #expect(try await client.api(.post, "/v1/checkout_sessions", key: key, json: #"{"form":"\#(formID)","realm":"a b"}"#).param == "realm")
        }
    }
}

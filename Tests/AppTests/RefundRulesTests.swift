import Foundation
import HTTPTypes
import KassaTestSupport
import Testing

@testable import App

/// A refund's rules are the core's (`Payments.refund`: its reason through `refundProblems`, its
/// amount and the payment's state under the payment's lock); the payment page and
/// `POST /v1/payments/{id}/refunds` both call it. Each rule, broken through each, is refused on
/// the same field and writes nothing.
@Suite("Refund rules: one function, both presenters")
struct RefundRulesTests {
    @Test func eachRuleIsRefusedThroughThePageAndTheAPI() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (merchant, key) = try await Browser.merchantWithKey(client)
            let link = try await merchant.createLink(amount: "50.00")
            let (_, paid) = try await Browser(client).pay(link.path)
            let payment = String(try #require(paid.location).dropFirst("/receipts/".count).prefix { $0 != "?" })
            var card = Browser.goodCard.filter { $0.0 != "card_number" }
            card.append(("card_number", "4000 0000 0000 0002"))
            let declinedLink = try await merchant.createLink(amount: "20.00")
            let (_, declined) = try await Browser(client).pay(declinedLink.path, card: card)
            // A decline shows the checkout again, naming the declined payment.
            let failed = try #require(Browser.attribute(in: declined.body, after: #"data-declined-payment=""#))

            let long = String(repeating: "r", count: 501)
            let cases:
                [(rule: String, payment: String, form: [(String, String)], json: String, field: String?, page: String, api: HTTPResponse.Status)] = [
                    (
                        "a reason of at most 500", payment, [("amount", "1.00"), ("reason", long)], #"{"amount":100,"reason":"\#(long)"}"#, "reason",
                        "at most 500 characters", .badRequest
                    ),
                    (
                        "no more than is left", payment, [("amount", "50.01")], #"{"amount":5001}"#, "amount", "You can refund at most €50.00.",
                        .unprocessableContent
                    ),
                    (
                        "only a payment that took money", failed, [("amount", "1.00")], #"{"amount":100}"#, nil,
                        "A payment that is failed cannot be refunded.",
                        .unprocessableContent
                    ),
                ]
            for (rule, id, form, json, field, words, status) in cases {
                _ = try await merchant.get("/payments/\(id)")
                let page = try await merchant.post("/payments/\(id)/refunds", form)
                #expect(page.status == .unprocessableContent, "\(rule)")
                let shown = try #require(Browser.fieldError(in: page.body, field: field ?? "amount"), "\(rule)")
                #expect(shown.contains(Browser.escapeHTML(words)), "\(rule): \(shown)")

                let answer = try await client.api(.post, "/v1/payments/\(id)/refunds", key: key, json: json)
                #expect(answer.status == status, "\(rule)")
                #expect(answer.param == field, "\(rule)")
                // The same words in both: the core's (RefundRefusal, refundProblems).
                #expect(answer.message?.contains(words) == true, "\(rule): \(answer.message ?? "-")")
            }
            #expect(try await app.count("SELECT count(*) FROM refunds") == 0)
        }
    }
}

import Foundation
import HTTPTypes
import Testing

@testable import App
@testable import PaymentCore

/// A new link's rules live in one function (`PaymentLinks.problems`); the HTML form and the JSON
/// API both call it. Each rule, broken through each presenter, gives the same words on the same
/// field and creates nothing.
@Suite("Link rules: one function, both presenters")
struct LinkRulesTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let rule: String
        /// Form fields replacing the valid ones.
        let form: [(String, String)]
        /// JSON members replacing the valid ones (already JSON-encoded values).
        let json: [(String, String)]
        let field: String
        let message: String
        let status: HTTPResponse.Status
        var testDescription: String { rule }
    }

    static let longText = String(repeating: "x", count: 501)

    static let cases: [Case] = [
        Case(
            rule: "amount at most the maximum", form: [("amount", "1000000")], json: [("amount", "100000000")], field: "amount",
            message: "at most €999,999.99", status: .badRequest),
        Case(
            rule: "a currency some method accepts", form: [("currency", "GBP")], json: [("currency", #""GBP""#)], field: "currency",
            message: "None of your payment methods accepts GBP.", status: .unprocessableContent),
        Case(
            rule: "a description", form: [("description", "   ")], json: [("description", #""   ""#)], field: "description",
            message: "Say what the payment is for", status: .badRequest),
        Case(
            rule: "a description of at most 500", form: [("description", longText)], json: [("description", "\"\(longText)\"")],
            field: "description", message: "at most 500 characters", status: .badRequest),
        Case(
            rule: "a lifetime from an hour to 90 days", form: [("expires_in", "60")], json: [("expires_in", "60")], field: "expires_in",
            message: "from 1 hour", status: .badRequest),
        Case(
            rule: "from 1 to 1,000,000 uses", form: [("uses", "multiple"), ("max_uses", "0")], json: [("max_uses", "0")], field: "max_uses",
            message: "from 1 to 1,000,000 payments", status: .badRequest),
        Case(
            rule: "the merchant's own methods", form: [("payment_methods", "pm_AAAAAAAAAAAAAAAAAAAAAAAA")],
            json: [("payment_methods", #"["pm_AAAAAAAAAAAAAAAAAAAAAAAA"]"#)], field: "payment_methods",
            message: "Choose among your own payment methods", status: .unprocessableContent),
        Case(
            rule: "a chosen method that takes the currency", form: [("payment_methods", "{yen}")], json: [("payment_methods", #"["{yen}"]"#)],
            field: "payment_methods", message: "None of the chosen methods accepts EUR.", status: .unprocessableContent),
    ]

    @Test(arguments: cases)
    func eachRuleSaysTheSameThroughTheFormAndTheAPI(_ rule: Case) async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let (merchant, key) = try await Browser.merchantWithKey(client)
            // A method that takes yen only, for the rule about the chosen methods' currency.
            try await merchant.acceptCards(["iss_sakura"], currencies: ["JPY"])
            let methods = try await client.api(.get, "/v1/payment_methods", key: key).data
            let yen = try #require(methods.first { $0["issuer"] as? String == "iss_sakura" }?["id"] as? String)
            func fill(_ text: String) -> String { text.replacingOccurrences(of: "{yen}", with: yen) }

            _ = try await merchant.get("/links/new")
            var form: [(String, String)] = [("amount", "10"), ("currency", "EUR"), ("description", "Beans"), ("expires_in", "86400")]
            form.removeAll { pair in rule.form.contains { $0.0 == pair.0 } }
            let page = try await merchant.post("/links", form + rule.form.map { ($0.0, fill($0.1)) })
            #expect(page.status == .unprocessableContent)
            let shown = try #require(Browser.fieldError(in: page.body, field: rule.field), "no error next to \(rule.field)")
            #expect(shown.contains(Browser.escapeHTML(rule.message)), "\(shown)")

            var members: [(String, String)] = [("amount", "1000"), ("currency", #""EUR""#), ("description", #""Beans""#)]
            members.removeAll { pair in rule.json.contains { $0.0 == pair.0 } }
            let body = "{" + (members + rule.json).map { "\"\($0.0)\":\(fill($0.1))" }.joined(separator: ",") + "}"
            let answer = try await client.api(.post, "/v1/payment_links", key: key, json: body)
            #expect(answer.status == rule.status)
            #expect(answer.param == rule.field)
            #expect(answer.message?.contains(rule.message) == true, "\(answer.message ?? "")")

            #expect(try await app.count("SELECT count(*) FROM payment_links") == 0)
        }
    }

    /// The rules on their own, without a database: every problem at once, in the fields' names.
    @Test func aDraftBreakingEveryRuleHearsOfEach() {
        let visa = PaymentMethod(
            id: MethodID("pm_AAAAAAAAAAAAAAAAAAAAAAAA"), accountID: AccountID("acct_AAAAAAAAAAAAAAAAAAAAAAAA"), issuerID: "iss_test_visa",
            currencies: [.usd],
            createdAt: Date())
        let draft = PaymentLinks.NewLink(
            amount: Money(minorUnits: 0, currency: .eur), description: " ", expiresIn: 10, maxUses: 0,
            paymentMethodIDs: [MethodID("pm_BBBBBBBBBBBBBBBBBBBBBBBB")], realm: "not a site"
        )
        let problems = PaymentLinks.problems(draft, methods: [visa], maximumAmount: 1000)
        #expect(problems.map(\.field) == ["amount", "currency", "description", "expires_in", "max_uses", "payment_methods", "realm"])
        #expect(Set(problems.map(\.field)) == Set(PaymentLinks.Field.allCases.map(\.rawValue)))
        #expect(
            PaymentLinks.problems(.init(amount: Money(minorUnits: 500, currency: .usd), description: "Beans"), methods: [visa], maximumAmount: 1000)
                .isEmpty)
    }
}

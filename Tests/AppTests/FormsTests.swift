import Foundation
import Hummingbird
import HummingbirdTesting
import PaymentCore
import Testing

@testable import App

@Suite("Business payment forms and their embed")
struct FormsTests {
    static let base: [(String, String)] = [
        ("title", "Support the roastery"), ("description", "Thank you!"), ("currency", "EUR"), ("amount_mode", "fixed"), ("amount", "25.00"),
        ("allowed_origins", "https://shop.example\nhttp://localhost:5555"), ("redirect_url", "https://shop.example/thanks"),
        ("button_label", "Donate"), ("brand_color", "#aa3300"),
        ("field_label_1", "Order number"), ("field_kind_1", "number"), ("field_required_1", "on"),
        ("field_label_2", "Size"), ("field_kind_2", "select"), ("field_options_2", "S, M, L"),
        ("field_label_3", "Gift email"), ("field_kind_3", "email"),
    ]

    /// Creates a form through the editor; returns its id.
    static func createForm(_ merchant: Browser, overriding: [(String, String)] = []) async throws -> String {
        _ = try await merchant.get("/forms/new")
        var fields = base.filter { pair in !overriding.contains { $0.0 == pair.0 } }
        fields += overriding
        let created = try await merchant.post("/forms", fields)
        let location = try #require(created.location, "form created: \(created.status) \(created.body.prefix(3000))")
        return String(location.dropFirst("/forms/".count))
    }

    static let card: [(String, String)] = [
        ("card_number", "4242424242424242"), ("exp_month", "12"), ("exp_year", "30"), ("cvc", "123"), ("cardholder_name", "Paula Payer"),
        ("email", "paula@example.com"),
    ]

    static func payForm(
        _ client: some TestClientProtocol, _ id: String, fields: [(String, String)], query: String = ""
    ) async throws -> (Browser.Page, Browser.Page) {
        let payer = Browser(client)
        let page = try await payer.get("/embed/forms/\(id)\(query)")
        let token = Browser.attribute(in: page.body, after: #"name="attempt_token" value=""#) ?? ""
        let result = try await payer.post("/embed/forms/\(id)\(query)", [("attempt_token", token)] + fields, csrf: "")
        return (page, result)
    }

    @Test func aMerchantCreatesAFormAndGetsItsSnippet() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let id = try await Self.createForm(merchant)
            #expect(id.hasPrefix("form_"))
            let page = try await merchant.get("/forms/\(id)")
            #expect(page.body.contains("Payment form saved"))
            #expect(
                page.body.contains("&lt;script src=&quot;http://127.0.0.1:8080/embed.js&quot; data-kassa-form=&quot;\(id)&quot;&gt;&lt;/script&gt;"))
            #expect(page.body.contains(#"<script src="/embed.js" data-kassa-form="\#(id)"></script>"#), "live preview")
            #expect(page.body.contains("https://shop.example, http://localhost:5555"))
            #expect(try await merchant.get("/forms").body.contains("Support the roastery"))
        }
    }

    @Test(arguments: [
        ([("title", "")], "title"),
        ([("currency", "JPY")], "currency"),
        ([("amount", "abc")], "amount"),
        ([("amount_mode", "payer"), ("min_amount", "50"), ("max_amount", "10")], "max_amount"),
        ([("allowed_origins", "http://shop.example")], "allowed_origins"),
        ([("allowed_origins", "https://shop.example/checkout")], "allowed_origins"),
        ([("allowed_origins", "javascript:alert(1)")], "allowed_origins"),
        ([("redirect_url", "http://elsewhere.example/thanks")], "redirect_url"),
        ([("redirect_url", "javascript:alert(1)")], "redirect_url"),
        ([("brand_color", "red; background: url(x)")], "brand_color"),
        ([("field_label_4", "Colour"), ("field_kind_4", "select")], "fields"),
        ([("max_uses", "0")], "max_uses"),
    ])
    func badFormsAreShownNextToTheFieldAndSaveNothing(fields: [(String, String)], field: String) async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            _ = try await merchant.get("/forms/new")
            var form = Self.base.filter { pair in !fields.contains { $0.0 == pair.0 } }
            form += fields
            let response = try await merchant.post("/forms", form)
            #expect(response.status == .unprocessableContent)
            #expect(response.body.contains(#"<p class="field-error" id="\#(field)-error">"#))
            #expect(try await app.count("SELECT count(*) FROM payment_forms") == 0)
        }
    }

    @Test func originRules() {
        #expect(FormRules.origin("https://Shop.Example") == "https://shop.example")
        // Internationalized names in their ASCII form, as browsers send origins and headers carry them.
        #expect(FormRules.origin("https://bücher.example") == "https://xn--bcher-kva.example")
        #expect(FormRules.origin("https://BÜCHER.example:8443/") == "https://xn--bcher-kva.example:8443")
        #expect(FormRules.origin("https://xn--bcher-kva.example") == "https://xn--bcher-kva.example")
        #expect(FormRules.origin("https://例え.テスト") == "https://xn--r8jz45g.xn--zckzah")
        #expect(
            EmbedController.contentSecurityPolicy(origins: ["https://bücher.example"]).hasSuffix(
                "frame-ancestors 'self' https://xn--bcher-kva.example"))
        #expect(FormRules.origin("https://shop.example:8443/") == "https://shop.example:8443")
        #expect(FormRules.origin("http://localhost:3000") == "http://localhost:3000")
        #expect(FormRules.origin("http://127.0.0.1:3000") == "http://127.0.0.1:3000")
        for bad in [
            "http://shop.example", "https://shop.example/path", "https://user@shop.example", "ftp://shop.example", "https://", "shop.example",
            "https://shop.example?x=1", "https://a b",
        ] {
            #expect(FormRules.origin(bad) == nil, "\(bad)")
        }
        #expect(FormRules.redirectIsAllowed("https://anywhere.example/ok", origins: []))
        #expect(FormRules.redirectIsAllowed("http://localhost:5555/done", origins: ["http://localhost:5555"]))
        #expect(!FormRules.redirectIsAllowed("http://localhost:6666/done", origins: ["http://localhost:5555"]))
    }

    @Test func theEmbedMayBeFramedOnlyByAllowedOrigins() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let id = try await Self.createForm(merchant)
            let page = try await Browser(client).get("/embed/forms/\(id)?origin=https%3A%2F%2Fshop.example")
            #expect(page.status == .ok)
            let csp = try #require(page.headers[.contentSecurityPolicy])
            #expect(csp.contains("frame-ancestors 'self' https://shop.example http://localhost:5555"))
            #expect(!csp.contains("evil"))
            #expect(page.headers[.init("X-Frame-Options")!] == nil)
            #expect(page.body.contains(#"data-parent-origin="https://shop.example""#))
            // A page claiming another origin gets no messages: the frame names no parent.
            let other = try await Browser(client).get("/embed/forms/\(id)?origin=https%3A%2F%2Fevil.example")
            #expect(other.body.contains(#"data-parent-origin="""#))
            #expect(other.headers[.contentSecurityPolicy]?.contains("evil") == false)
            // Merchant pages still refuse every frame.
            #expect(try await merchant.get("/forms/\(id)").headers[.contentSecurityPolicy]?.contains("frame-ancestors 'none'") == true)
            #expect(try await Browser(client).get("/embed/forms/\(id)/theme.css").body.contains("--form-brand: #aa3300"))
        }
    }

    @Test func embedJSAsksWhetherTheSiteMayShowTheForm() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let id = try await Self.createForm(merchant)
            func status(_ form: String, origin: String) async throws -> (String, String, Browser.Page) {
                let page = try await Browser(client).get("/embed/forms/\(form)/origin?origin=\(Browser.encode(origin))")
                let json = try #require(try JSONSerialization.jsonObject(with: Data(page.body.utf8)) as? [String: String])
                return (json["status"] ?? "", json["origin"] ?? "", page)
            }
            let (allowed, _, page) = try await status(id, origin: "http://localhost:5555")
            #expect(allowed == "allowed")
            #expect(page.headers[.accessControlAllowOrigin] == "*" && page.headers[.cacheControl] == "no-store")
            // The likeliest first mistakes: another host name for the same machine, or www.
            let (loopback, named, _) = try await status(id, origin: "http://127.0.0.1:5555")
            #expect(loopback == "not_allowed" && named == "http://127.0.0.1:5555")
            #expect(try await status(id, origin: "https://www.shop.example").0 == "not_allowed")
            #expect(try await status(id, origin: "https://shop.example").0 == "allowed")
            #expect(try await status(id, origin: "not an origin").0 == "not_allowed")
            #expect(try await status("form_NOSUCHFORMNOSUCHFORMNOSUCH", origin: "https://shop.example").0 == "not_found")
            #expect(try await status("nonsense", origin: "https://shop.example").0 == "not_found")
            _ = try await merchant.get("/forms/\(id)")
            #expect(try await merchant.post("/forms/\(id)/archive", []).status == .seeOther)
            #expect(try await status(id, origin: "https://shop.example").0 == "closed")
            // embed.js asks before making the frame, and explains a refusal to the site's owner.
            let script = try await Browser(client).get("/embed.js")
            #expect(script.body.contains("/origin?origin=") && script.body.contains("is not allowed on"))
        }
    }

    @Test func aPayerPaysTheFormAndTheAnswersTravelWithThePayment() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let id = try await Self.createForm(merchant)
            let key = try await merchant.createAPIKey()
            let (page, result) = try await Self.payForm(
                client, id, fields: Self.card + [("f1", "1042"), ("f2", "M"), ("f3", "friend@example.com"), ("origin", "https://shop.example")])
            #expect(page.body.contains("€25.00"))
            #expect(page.body.contains("Donate €25.00"))
            #expect(result.status == .seeOther)
            let location = try #require(result.location)
            #expect(location.hasPrefix("/embed/forms/\(id)/result?payment=pay_"))
            let outcome = try await Browser(client).get(location)
            #expect(outcome.body.contains(#"data-outcome="success""#))
            #expect(outcome.body.contains(#"data-redirect="https://shop.example/thanks""#))
            #expect(outcome.body.contains(#"data-parent-origin="https://shop.example""#))

            let payments = try await client.api(.get, "/v1/payments", key: key)
            let payment = try #require(payments.data.first)
            #expect(payment["payment_form"] as? String == id)
            let answers = try #require(payment["custom_fields"] as? [[String: String]])
            #expect(
                answers == [
                    ["label": "Order number", "value": "1042"], ["label": "Size", "value": "M"],
                    ["label": "Gift email", "value": "friend@example.com"],
                ])
            let paymentID = try #require(payment["id"] as? String)
            let detail = try await merchant.get("/payments/\(paymentID)")
            #expect(detail.body.contains("<dt>Order number</dt><dd>1042</dd>"))
            let csv = try await merchant.get("/payments.csv")
            #expect(csv.body.contains("Order number: 1042; Size: M; Gift email: friend@example.com"))
            #expect(try await merchant.get("/forms/\(id)").body.contains("€25.00 net · 1 payment"))
        }
    }

    @Test(arguments: [
        ([("f2", "M")], "f1", "Order number is required."),
        ([("f1", "ten")], "f1", "Enter a number."),
        ([("f1", "1"), ("f2", "XXL")], "f2", "Choose one of the options."),
        ([("f1", "1"), ("f3", "not an email")], "f3", "email"),
    ])
    func customFieldAnswersAreChecked(answers: [(String, String)], field: String, message: String) async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let id = try await Self.createForm(merchant)
            let (_, result) = try await Self.payForm(client, id, fields: Self.card + answers)
            #expect(result.status == .unprocessableContent)
            #expect(result.body.contains(#"<p class="field-error" id="\#(field)-error">"#))
            #expect(result.body.contains(message))
            #expect(try await app.count("SELECT count(*) FROM payments") == 0)
        }
    }

    @Test func aDeclinedCardShowsTheFormAgainAndTellsTheEmbeddingPage() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let id = try await Self.createForm(merchant)
            let declined = Self.card.filter { $0.0 != "card_number" } + [("card_number", "4000 0000 0000 0002")]
            let (_, result) = try await Self.payForm(
                client, id, fields: declined + [("f1", "1042"), ("f2", "M"), ("origin", "https://shop.example")])
            #expect(result.status == .paymentRequired)
            #expect(result.body.contains("Payment declined.") && result.body.contains(#"value="1042""#))
            #expect(result.body.contains(#"data-outcome="failure""#) && result.body.contains(#"data-parent-origin="https://shop.example""#))
            let paymentID = try #require(Browser.attribute(in: result.body, after: #"data-declined-payment=""#))
            #expect(try await app.count("SELECT count(*) FROM payments WHERE id = \(paymentID) AND status = 'failed'") == 1)
        }
    }

    @Test func aPayerChosenAmountMustBeWithinTheRange() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let id = try await Self.createForm(
                merchant, overriding: [("amount_mode", "payer"), ("amount", ""), ("min_amount", "5"), ("max_amount", "50"), ("field_label_1", "")])
            for (amount, message) in [
                ("4.99", "The smallest amount is €5.00."), ("50.01", "The largest amount is €50.00."), ("", "Enter an amount."),
            ] {
                let (_, result) = try await Self.payForm(client, id, fields: Self.card + [("amount", amount)])
                #expect(result.status == .unprocessableContent, "\(amount)")
                #expect(result.body.contains(message), "\(amount)")
            }
            #expect(try await app.count("SELECT count(*) FROM payments") == 0)
            let (_, ok) = try await Self.payForm(client, id, fields: Self.card + [("amount", "12.34")])
            #expect(ok.status == .seeOther)
            #expect(try await app.count("SELECT count(*) FROM payments WHERE amount = 1234 AND status = 'succeeded'") == 1)
        }
    }

    @Test func aDoubleSubmitOfTheFormMakesOnePayment() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let id = try await Self.createForm(merchant, overriding: [("field_label_1", "")])
            let payer = Browser(client)
            let page = try await payer.get("/embed/forms/\(id)")
            let token = try #require(Browser.attribute(in: page.body, after: #"name="attempt_token" value=""#))
            let first = try await payer.post("/embed/forms/\(id)", [("attempt_token", token)] + Self.card, csrf: "")
            let second = try await payer.post("/embed/forms/\(id)", [("attempt_token", token)] + Self.card, csrf: "")
            #expect(first.location == second.location)
            #expect(try await app.count("SELECT count(*) FROM payments") == 1)
        }
    }

    @Test func checkoutSessionsAreSignedAndPublishableKeysCanMakeThem() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let id = try await Self.createForm(
                merchant, overriding: [("amount_mode", "payer"), ("amount", ""), ("min_amount", "5"), ("max_amount", "50"), ("field_label_1", "")])
            let publishable = try await merchant.createAPIKey(name: "Site", kind: "publishable")
            let session = try await client.api(.post, "/v1/checkout_sessions", key: publishable, json: #"{"form":"\#(id)","amount":1500}"#)
            #expect(session.status == .created)
            let url = try #require(session.json["url"] as? String)
            let path = String(url.dropFirst("http://127.0.0.1:8080".count))
            let page = try await Browser(client).get(path)
            #expect(page.status == .ok)
            #expect(page.body.contains("€15.00"))
            #expect(!page.body.contains(#"name="amount""#), "the amount is fixed by the session")
            #expect(try await Browser(client).get(path.replacingOccurrences(of: "amount=1500", with: "amount=1")).status == .forbidden)
            #expect(try await client.api(.post, "/v1/checkout_sessions", key: publishable, json: #"{"form":"\#(id)","amount":1}"#).param == "amount")
            #expect(
                try await client.api(.post, "/v1/checkout_sessions", key: publishable, json: #"{"form":"form_AAAAAAAAAAAAAAAAAAAAAAAA"}"#).param
                    == "form")
            #expect(try await client.api(.get, "/v1/payments", key: publishable).status == .forbidden)
        }
    }

    /// A form that takes payments only through sessions refuses a payer who opens or posts it
    /// bare (who would otherwise pick their own amount within the range), and takes the session's.
    @Test func aSessionOnlyFormRefusesPaymentsWithoutASession() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let id = try await Self.createForm(
                merchant,
                overriding: [
                    ("amount_mode", "payer"), ("amount", ""), ("min_amount", "1"), ("max_amount", "500"), ("field_label_1", ""),
                    ("requires_session", "on"),
                ])
            #expect(
                try await merchant.get("/forms/\(id)/edit").body.contains(
                    #"name="requires_session" aria-describedby="requires_session-hint" checked"#))
            let bare = try await Browser(client).get("/embed/forms/\(id)")
            #expect(bare.status == .forbidden)
            #expect(bare.body.contains("Pay from the business"))
            let (_, posted) = try await Self.payForm(client, id, fields: Self.card + [("amount", "1.00")])
            #expect(posted.status == .forbidden)
            #expect(try await app.count("SELECT count(*) FROM payments") == 0)

            let publishable = try await merchant.createAPIKey(name: "Site", kind: "publishable")
            let session = try await client.api(.post, "/v1/checkout_sessions", key: publishable, json: #"{"form":"\#(id)","amount":24900}"#)
            let url = try #require(session.json["url"] as? String)
            let query = String(url.dropFirst("http://127.0.0.1:8080/embed/forms/\(id)".count))
            let (_, paid) = try await Self.payForm(client, id, fields: [("amount", "1.00")] + Self.card, query: query)
            #expect(paid.status == .seeOther)
            #expect(try await app.count("SELECT count(*) FROM payments WHERE amount = 24900 AND status = 'succeeded'") == 1)
        }
    }

    @Test func archivedFormsTakeNoPayments() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let id = try await Self.createForm(merchant)
            _ = try await merchant.get("/forms/\(id)")
            #expect(try await merchant.post("/forms/\(id)/archive", []).status == .seeOther)
            let page = try await Browser(client).get("/embed/forms/\(id)")
            #expect(page.status == .gone)
            #expect(page.body.contains("This payment form is closed"))
        }
    }

    @Test func embedJSIsServedAsJavaScriptWithAValidator() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let script = try await Browser(client).get("/embed.js")
            #expect(script.status == .ok)
            #expect(script.headers[.contentType]?.contains("javascript") == true)
            #expect(script.headers[.eTag] != nil)
            #expect(script.body.contains("kassa:success"))
            let again = try await Browser(client).get("/embed.js", headers: [.ifNoneMatch: script.headers[.eTag] ?? ""])
            #expect(again.status == .notModified)
        }
    }
}

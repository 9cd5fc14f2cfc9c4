import App
import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import PostgresNIO
import Testing

@Suite("Payment methods page")
struct PaymentMethodsPageTests {
    static func methodCount(_ app: TestApp) async throws -> Int {
        try await TestServices.withConnection(to: app.databaseName) { connection in
            let rows = try await connection.query("SELECT count(*) FROM payment_methods", logger: TestServices.logger)
            for try await count in rows.decode(Int.self) { return count }
            return 0
        }
    }

    static func methodID(_ app: TestApp, issuer: String) async throws -> String {
        try await TestServices.withConnection(to: app.databaseName) { connection in
            let rows = try await connection.query("SELECT id FROM payment_methods WHERE issuer_id = \(issuer)", logger: TestServices.logger)
            for try await id in rows.decode(String.self) { return id }
            throw HTTPError(.notFound)
        }
    }

    /// An open EUR link for the account signed up with `email`, made directly in the database.
    static func openLink(_ app: TestApp, email: String, currency: String = "EUR") async throws {
        try await TestServices.withConnection(to: app.databaseName) { connection in
            try await connection.query(
                """
                INSERT INTO payment_links (account_id, id, amount, currency, description, expires_at)
                SELECT account_id, 'plink_AAAAAAAAAAAAAAAAAAAAAAAA', 1000, \(currency), 'Beans', now() + interval '1 day'
                FROM users WHERE email = \(email)
                """,
                logger: TestServices.logger
            )
        }
    }

    @Test func pageNeedsLogin() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let response = try await Browser(client).get("/payment-methods")
            #expect(response.status == .seeOther)
            #expect(response.location == "/login?next=/payment-methods")
        }
    }

    @Test func merchantAddsEditsAndRemovesAMethod() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            // setup
            let browser = Browser(client)
            try await browser.signUp(email: AccountsTests.uniqueEmail())
            let empty = try await browser.get("/payment-methods")
            #expect(empty.status == .ok)
            #expect(empty.body.contains("No payment methods yet"))
            #expect(empty.body.contains(#"<optgroup label="JCB"><option value="iss_sakura">Sakura Card</option>"#))
            #expect(empty.body.contains(#"<option value="iss_test_visa">Kassa Test Visa (test: takes the test cards)</option>"#))
            #expect(empty.body.contains("Cards from issuers you have not chosen are refused"))
            // Each issuer offers only its own currencies.
            #expect(empty.body.contains(#"name="currencies_iss_sakura" value="JPY""#))
            #expect(!empty.body.contains(#"name="currencies_iss_sakura" value="EUR""#))

            // MUT: add
            let added = try await browser.post(
                "/payment-methods",
                [
                    ("issuer", "iss_test_visa"), ("currencies_iss_test_visa", "EUR"), ("currencies_iss_test_visa", "USD"),
                    ("currencies_iss_sakura", "JPY"),
                ]
            )
            #expect(added.status == .seeOther)
            let list = try await browser.get("/payment-methods")
            #expect(list.body.contains("Payment method added"))
            #expect(list.body.contains("Kassa Test Visa"))
            #expect(list.body.contains("EUR, USD"))
            #expect(!list.body.contains(#"<option value="iss_test_visa""#), "an accepted issuer is not offered again")

            // edit
            let id = try await Self.methodID(app, issuer: "iss_test_visa")
            let edited = try await browser.post("/payment-methods/\(id)", [("currencies", "GBP"), ("currencies", "EUR")])
            #expect(edited.status == .seeOther)
            #expect(try await browser.get("/payment-methods").body.contains("EUR, GBP"))

            // remove
            let removed = try await browser.post("/payment-methods/\(id)/delete", [])
            #expect(removed.status == .seeOther)
            #expect(try await browser.get("/payment-methods").body.contains("Payment method removed"))
            #expect(try await Self.methodCount(app) == 0)
        }
    }

    @Test(arguments: [
        ([("issuer", "")], "issuer", "Choose the card issuer to accept."),
        ([("issuer", "iss_nope"), ("currencies_iss_nope", "EUR")], "issuer", "Choose a card issuer from the list."),
        ([("issuer", "iss_test_visa")], "currencies", "Choose at least one currency."),
        ([("issuer", "iss_liberty_national"), ("currencies_iss_liberty_national", "EUR")], "currencies", "This issuer does not settle in EUR."),
        ([("issuer", "iss_test_visa"), ("currencies_iss_test_visa", "XYZ")], "currencies", "This issuer does not settle in XYZ."),
    ])
    func badAdditionsAreShownNextToTheFieldAndChangeNothing(fields: [(String, String)], field: String, message: String) async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: AccountsTests.uniqueEmail())
            _ = try await browser.get("/payment-methods")
            let response = try await browser.post("/payment-methods", fields)
            #expect(response.status == .unprocessableContent)
            #expect(response.body.contains(#"<p class="field-error" id="\#(field)-error">\#(message)</p>"#))
            #expect(response.body.contains("<a href=\"#\(field)\">"))
            #expect(try await Self.methodCount(app) == 0)
        }
    }

    @Test func aMerchantAcceptsAWholeNetworkWithOneCurrencyChoice() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: AccountsTests.uniqueEmail())
            let page = try await browser.get("/payment-methods")
            #expect(page.body.contains("Accept every Visa issuer"))
            #expect(page.body.contains(#"name="network_currencies" value="NOK""#))
            // One issuer by hand first: the network then adds the others only.
            _ = try await browser.post("/payment-methods", [("issuer", "iss_nordlys"), ("currencies_iss_nordlys", "NOK")])
            _ = try await browser.get("/payment-methods")
            let added = try await browser.post(
                "/payment-methods/network", [("network", "visa"), ("network_currencies", "USD"), ("network_currencies", "EUR")])
            #expect(added.status == .seeOther)
            // Every Visa issuer but Nordlys settles in USD or EUR: Gulf Dinar, Liberty, Maple (USD), the test issuer (both).
            let rows = try await TestServices.withConnection(to: app.databaseName) { connection in
                let rows = try await connection.query(
                    "SELECT issuer_id, array_to_string(currencies, ',') FROM payment_methods ORDER BY issuer_id", logger: TestServices.logger)
                var found: [String] = []
                for try await (issuer, codes) in rows.decode((String, String).self) { found.append("\(issuer):\(codes)") }
                return found
            }
            #expect(
                rows == [
                    "iss_gulf_dinar:USD", "iss_liberty_national:USD", "iss_maple_trust:USD", "iss_nordlys:NOK", "iss_test_visa:EUR,USD",
                ])
            let list = try await browser.get("/payment-methods")
            #expect(list.body.contains(#"<h3 class="method-group">Visa</h3>"#))
            #expect(!list.body.contains("Accept every Visa issuer"), "a network accepted whole is not offered again")

            // Bad input: said next to the network's choice, nothing added.
            for (fields, message) in [
                ([("network", "mastercard")], "Choose at least one currency."),
                ([("network", "mastercard"), ("network_currencies", "KWD")], "No Mastercard issuer settles in KWD."),
                ([("network", "diners"), ("network_currencies", "USD")], "Choose a card network from the list."),
                ([("network", "visa"), ("network_currencies", "USD")], "You already accept every Visa issuer."),
            ] {
                let refused = try await browser.post("/payment-methods/network", fields)
                #expect(refused.status == .unprocessableContent)
                // Next to the network's choice, or above the list when that network is not offered.
                #expect(
                    refused.body.contains(#"role="alert">\#(Browser.escapeHTML(message))</p>"#)
                        || refused.body.contains(#"role="alert"><p>\#(Browser.escapeHTML(message))</p>"#), "\(fields)")
            }
            #expect(try await Self.methodCount(app) == 5)
        }
    }

    @Test func addingTheSameIssuerTwiceIsExplained() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: AccountsTests.uniqueEmail())
            _ = try await browser.get("/payment-methods")
            _ = try await browser.post("/payment-methods", [("issuer", "iss_test_visa"), ("currencies_iss_test_visa", "EUR")])
            let again = try await browser.post("/payment-methods", [("issuer", "iss_test_visa"), ("currencies_iss_test_visa", "GBP")])
            #expect(again.status == .unprocessableContent)
            #expect(again.body.contains("You already accept this issuer."))
            #expect(try await Self.methodCount(app) == 1)
        }
    }

    @Test func aMethodOpenLinksNeedIsNotRemovedAndTheReasonIsShown() async throws {
        let app = try await TestApp.make()
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            // setup: EUR through the test Visa only, and an open EUR link
            let browser = Browser(client)
            try await browser.signUp(email: email)
            _ = try await browser.get("/payment-methods")
            _ = try await browser.post(
                "/payment-methods", [("issuer", "iss_test_visa"), ("currencies_iss_test_visa", "EUR"), ("currencies_iss_test_visa", "USD")])
            try await Self.openLink(app, email: email)
            let id = try await Self.methodID(app, issuer: "iss_test_visa")
            let form = try await FormsTests.createForm(browser)
            // Before any change, the method's panel lists the open links and forms only it pays.
            let before = try await browser.get("/payment-methods")
            #expect(before.body.contains(#"<a href="/forms/\#(form)">Support the roastery</a> (EUR)"#))
            #expect(before.body.contains(#"Open links and forms only this method pays"#))
            #expect(before.body.contains(#"<a href="/links/plink_AAAAAAAAAAAAAAAAAAAAAAAA">Beans</a> (EUR)"#))

            // MUT + validate: removal refused
            let removal = try await browser.post("/payment-methods/\(id)/delete", [])
            #expect(removal.status == .conflict)
            #expect(removal.body.contains("An open payment link takes payments through this method."))
            // The link in the way is named, with a way to it.
            #expect(removal.body.contains(#"<li><a href="/links/plink_AAAAAAAAAAAAAAAAAAAAAAAA">Beans</a></li>"#))
            #expect(try await Self.methodCount(app) == 1)

            // dropping EUR refused, dropping USD fine, no currency at all refused
            let dropEUR = try await browser.post("/payment-methods/\(id)", [("currencies", "USD")])
            #expect(dropEUR.status == .conflict)
            #expect(dropEUR.body.contains("before you drop these currencies"))
            #expect(dropEUR.body.contains(#"<a href="/links/plink_AAAAAAAAAAAAAAAAAAAAAAAA">Beans</a>"#))
            let none = try await browser.post("/payment-methods/\(id)", [])
            #expect(none.status == .unprocessableContent)
            #expect(none.body.contains("Keep at least one currency"))
            let dropUSD = try await browser.post("/payment-methods/\(id)", [("currencies", "EUR")])
            #expect(dropUSD.status == .seeOther)
        }
    }

    @Test func anotherMerchantsMethodIsNotFound() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let owner = Browser(client)
            try await owner.signUp(email: AccountsTests.uniqueEmail())
            _ = try await owner.get("/payment-methods")
            _ = try await owner.post("/payment-methods", [("issuer", "iss_test_visa"), ("currencies_iss_test_visa", "EUR")])
            let id = try await Self.methodID(app, issuer: "iss_test_visa")

            let stranger = Browser(client)
            try await stranger.signUp(email: AccountsTests.uniqueEmail())
            _ = try await stranger.get("/payment-methods")
            #expect(try await stranger.post("/payment-methods/\(id)/delete", []).status == .notFound)
            #expect(try await stranger.post("/payment-methods/\(id)", [("currencies", "USD")]).status == .notFound)
            #expect(try await Self.methodCount(app) == 1)
        }
    }

    @Test func dashboardShowsBalancesPerCurrencyFromTheLedger() async throws {
        let app = try await TestApp.make()
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            let browser = Browser(client)
            try await browser.signUp(email: email)
            #expect(try await browser.get("/dashboard").body.contains("Pick the card issuers"))
            // A captured payment written the way the core writes it: the payment and its event; the
            // ledger's consumer turns the event into a transfer.
            try await TestServices.withConnection(to: app.databaseName) { connection in
                try await connection.query(
                    """
                    WITH a AS (SELECT account_id FROM users WHERE email = \(email)), p AS (
                        INSERT INTO payments (account_id, id, status, amount, currency, attempt_id)
                        SELECT account_id, 'pay_AAAAAAAAAAAAAAAAAAAAAAAA', 'succeeded', 123456, 'EUR', 'att_AAAAAAAAAAAAAAAAAAAAAAAA' FROM a
                        RETURNING account_id, id
                    )
                    INSERT INTO payment_events (account_id, id, payment_id, type, data)
                    SELECT account_id, 'evt_AAAAAAAAAAAAAAAAAAAAAAAA', id, 'payment.succeeded',
                           '{"amount":123456,"authorization_code":"A1","currency":"EUR","status":"succeeded"}' FROM p
                    """,
                    logger: TestServices.logger
                )
            }
            try await app.drain()
            let dashboard = try await browser.get("/dashboard")
            #expect(dashboard.body.contains("€1,234.56"))
            #expect(dashboard.body.contains("EUR · Euro"))
        }
    }
}

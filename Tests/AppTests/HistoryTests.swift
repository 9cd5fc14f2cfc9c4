import Foundation
import Hummingbird
import HummingbirdTesting
import KassaTestSupport
import PaymentCore
import PostgresNIO
import Testing

@testable import App

@Suite("History, CSV, refunds, link forms and link expiry")
struct HistoryTests {
    /// `count` payments for the account of `email`, a second apart, newest last, written directly.
    static func insertPayments(_ app: TestApp, email: String, count: Int, startingSecondsAgo: Int, description: String = "Beans") async throws {
        try await app.execute(
            """
            INSERT INTO payments (account_id, id, status, amount, currency, description, created_at)
            SELECT u.account_id, 'pay_' || substr(md5(random()::text || g::text), 1, 24), 'requires_payment', 100 + g, 'EUR',
                   \(description) || ' ' || g, now() - make_interval(secs => \(startingSecondsAgo) - g)
            FROM users u, generate_series(1, \(count)) AS g
            WHERE u.email = \(email)
            """
        )
    }

    static func ids(_ html: String) -> [String] {
        html.components(separatedBy: #"<a href="/payments/"#).dropFirst().map { String($0.prefix(28)) }
    }

    @Test func paginationIsStableWhilePaymentsArrive() async throws {
        let app = try await TestApp.make()
        let email = AccountsTests.uniqueEmail()
        try await app.run { client in
            // setup: 30 payments
            let merchant = Browser(client)
            try await merchant.signUp(email: email)
            try await Self.insertPayments(app, email: email, count: 30, startingSecondsAgo: 1000)
            let first = try await merchant.get("/payments")
            let firstIDs = Self.ids(first.body)
            #expect(firstIDs.count == 25)
            let next = try #require(Browser.attribute(in: first.body, after: #"<a href=""#, where: "rel=\"next\""))

            // MUT: five newer payments arrive before the next page is read
            try await Self.insertPayments(app, email: email, count: 5, startingSecondsAgo: 10, description: "New")
            let second = try await merchant.get(next.replacingOccurrences(of: "&amp;", with: "&"))

            // validate: exactly the five older ones, nothing repeated or skipped
            let secondIDs = Self.ids(second.body)
            #expect(secondIDs.count == 5)
            #expect(Set(firstIDs).isDisjoint(with: secondIDs))
            #expect(!second.body.contains("New "))
            #expect(!second.body.contains(#"rel="next""#))
        }
    }

    @Test func filtersNarrowTheListAndTheTotals() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let a = try await merchant.createLink(amount: "10.00", description: "Espresso beans")
            let b = try await merchant.createLink(amount: "20.00", description: "Filter papers")
            _ = try await Browser(client).pay(a.path)
            var declined = Browser.goodCard.filter { $0.0 != "card_number" }
            declined.append(("card_number", "4000 0000 0000 0002"))
            _ = try await Browser(client).pay(b.path, card: declined)
            try await app.drain()

            let all = try await merchant.get("/payments")
            #expect(all.body.contains("€10.00"))
            #expect(all.body.contains("EUR net · 1 succeeded · 1 failed"))
            let succeeded = try await merchant.get("/payments?status=succeeded")
            #expect(succeeded.body.contains("Espresso beans"))
            #expect(!succeeded.body.contains("Filter papers"))
            let search = try await merchant.get("/payments?q=filter")
            #expect(search.body.contains("Filter papers"))
            #expect(!search.body.contains("Espresso beans"))
            let last4 = try await merchant.get("/payments?q=0002")
            #expect(last4.body.contains("Filter papers"))
            let today = Formats.isoDay(Date())
            #expect(try await merchant.get("/payments?from=\(today)&to=\(today)").body.contains("Espresso beans"))
            #expect(try await merchant.get("/payments?to=2001-01-01").body.contains("No payments match these filters."))
            // A percent sign is searched for, not used as a wildcard.
            #expect(try await merchant.get("/payments?q=%25").body.contains("No payments match these filters."))
        }
    }

    @Test(arguments: [
        ("from=yesterday", "from", "Enter a date as YYYY-MM-DD."),
        ("to=2026-02-30", "to", "Enter a date as YYYY-MM-DD."),
        ("from=2026-05-02&to=2026-05-01", "to", "The end date is before the start date."),
        ("status=lost", "status", "Choose a status from the list."),
        ("q=a%00b", "q", "Search for letters, digits and punctuation only."),
    ])
    func badFiltersAreNamedNextToTheField(query: String, field: String, message: String) async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            let page = try await merchant.get("/payments?\(query)")
            #expect(page.status == .badRequest)
            #expect(page.body.contains(#"<p class="field-error" id="\#(field)-error">\#(message)</p>"#))
            #expect(try await merchant.get("/payments.csv?\(query)").status == .badRequest)
        }
    }

    @Test(arguments: [
        ("plain", "plain"), ("a,b", #""a,b""#), (#"say "hi""#, #""say ""hi""""#), ("two\nlines", "\"two\nlines\""),
        ("=SUM(A1:A9)", "'=SUM(A1:A9)"), ("+1", "'+1"), ("-2", "'-2"), ("@cmd", "'@cmd"), ("=1,2", #""'=1,2""#),
        ("\tx", "'\tx"), (" padded ", #"" padded ""#), ("", ""),
    ])
    func csvCellsAreQuotedAndNeverFormulas(value: String, cell: String) {
        #expect(CSV.cell(value) == cell)
    }

    @Test func csvExportFollowsTheFilters() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let link = try await merchant.createLink(amount: "1,000.50", description: #"=HYPERLINK("http://evil"), "quoted""#)
            _ = try await Browser(client).pay(link.path)
            let other = try await merchant.createLink(amount: "5", description: "Other")
            var declined = Browser.goodCard.filter { $0.0 != "card_number" }
            declined.append(("card_number", "4000 0000 0000 0002"))
            _ = try await Browser(client).pay(other.path, card: declined)

            let csv = try await merchant.get("/payments.csv?status=succeeded")
            #expect(csv.status == .ok)
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8")
            #expect(csv.headers[.contentDisposition]?.hasPrefix("attachment; filename=\"kassa-payments-") == true)
            let lines = csv.body.components(separatedBy: "\r\n").filter { !$0.isEmpty }
            #expect(lines.count == 2)
            #expect(
                lines[0]
                    == "id,created_at,status,amount,currency,amount_refunded,description,email,card_brand,card_last4,failure_code,payment_link,payment_form,custom_fields,realm"
            )
            #expect(lines[1].contains(#",succeeded,1000.50,EUR,0.00,"'=HYPERLINK(""http://evil""), ""quoted""",paula@example.com,visa,4242,,plink_"#))
            #expect(try await merchant.get("/payments.csv").body.components(separatedBy: "\r\n").filter { !$0.isEmpty }.count == 3)
        }
    }

    @Test func aMerchantRefundsPartOfAPaymentAndNeverMoreThanIsLeft() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            let link = try await merchant.createLink(amount: "50.00")
            let (_, result) = try await Browser(client).pay(link.path)
            let paymentID = String(try #require(result.location).dropFirst("/receipts/".count).prefix { $0 != "?" })

            let page = try await merchant.get("/payments/\(paymentID)")
            #expect(page.body.contains("Up to €50.00 can still be refunded."))
            #expect(page.body.contains("Sent to the card issuer"))
            // The first submit asks, naming the money and the card; nothing moves until it is confirmed.
            let asked = try await merchant.post("/payments/\(paymentID)/refunds", [("amount", "12.5"), ("reason", "One bag missing")])
            #expect(asked.status == .ok)
            #expect(asked.body.contains("Refund €12.50 to Visa •••• 4242? This cannot be undone."))
            #expect(asked.body.contains(#"name="confirm" value="yes""#) && asked.body.contains("Yes, refund €12.50"))
            #expect(try await app.count("SELECT count(*) FROM refunds") == 0)
            let partial = try await merchant.post(
                "/payments/\(paymentID)/refunds", [("amount", "12.5"), ("reason", "One bag missing"), ("confirm", "yes")])
            #expect(partial.status == .seeOther)
            let after = try await merchant.get("/payments/\(paymentID)")
            #expect(after.body.contains("Refund issued"))
            #expect(after.body.contains("Partially refunded"))
            #expect(after.body.contains("Refunded €12.50"))
            #expect(after.body.contains("Up to €37.50 can still be refunded."))

            for (amount, message) in [
                ("37.51", "You can refund at most €37.50."), ("0", "Enter an amount greater than zero."), ("abc", "Enter an amount as a number"),
                ("1.234", "could be read two ways"),
            ] {
                _ = try await merchant.get("/payments/\(paymentID)")
                let refused = try await merchant.post("/payments/\(paymentID)/refunds", [("amount", amount)])
                #expect(refused.status == .unprocessableContent, "\(amount)")
                #expect(refused.body.contains(message), "\(amount)")
            }
            #expect(try await app.count("SELECT count(*) FROM refunds") == 1)
            #expect(try await app.count("SELECT amount_refunded FROM payments") == 1250)
            // Another merchant cannot refund it.
            let stranger = Browser(client)
            try await stranger.signUp(email: AccountsTests.uniqueEmail())
            _ = try await stranger.get("/dashboard")
            #expect(try await stranger.post("/payments/\(paymentID)/refunds", [("amount", "1")]).status == .notFound)
            #expect(try await stranger.get("/payments/\(paymentID)").status == .notFound)
        }
    }

    @Test(arguments: [
        ([("amount", "abc")], "amount", "Enter an amount as a number"),
        ([("amount", "")], "amount", "Enter an amount."),
        ([("amount", "-5")], "amount", "Enter an amount greater than zero."),
        ([("amount", "1000000")], "amount", "at most €999,999.99."),
        ([("currency", "GBP")], "currency", "None of your payment methods accepts GBP."),
        ([("currency", "QQQ")], "currency", "Choose one of the currencies your payment methods accept."),
        ([("description", "")], "description", "Say what the payment is for"),
        ([("expires_in", "60")], "expires_in", "from 1 hour"),
        ([("expires_in", "9999999")], "expires_in", "from 1 hour"),
        ([("uses", "multiple"), ("max_uses", "0")], "max_uses", "from 1 to 1,000,000 payments"),
        ([("payment_methods", "pm_AAAAAAAAAAAAAAAAAAAAAAAA")], "payment_methods", "Choose among your own payment methods."),
    ])
    func badLinkFormsAreShownNextToTheFieldAndCreateNothing(fields: [(String, String)], field: String, message: String) async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            _ = try await merchant.get("/links/new")
            var form: [(String, String)] = [("amount", "10"), ("currency", "EUR"), ("description", "Beans"), ("expires_in", "86400")]
            form.removeAll { pair in fields.contains { $0.0 == pair.0 } }
            let response = try await merchant.post("/links", form + fields)
            #expect(response.status == .unprocessableContent)
            #expect(response.body.contains(#"<p class="field-error" id="\#(field)-error">"#))
            #expect(response.body.contains(message))
            #expect(try await app.count("SELECT count(*) FROM payment_links") == 0)
        }
    }

    @Test func theExpiryWorkerExpiresEachLinkOnceWithAnEvent() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let payments = core.payments()
            let due = try await core.link(account)
            let open = try await core.link(account)
            try await core.client.query(
                "UPDATE payment_links SET created_at = now() - interval '2 days', expires_at = now() - interval '1 minute' WHERE id = \(due.id)",
                logger: core.logger
            )
            #expect(try await payments.links.expireDue() == 1)
            #expect(try await payments.links.expireDue() == 0)
            #expect(
                try await core.count("SELECT count(*) FROM payment_events WHERE type = 'payment_link.expired' AND payment_link_id = \(due.id)") == 1)
            // The merchant hears of it once: the notifications consumer turns the event into one notification.
            let (consumers, _) = WebhookTests.workers(core)
            try await core.drain(.notifications) { try await consumers.notifyPass() }
            try await core.drain(.notifications) { try await consumers.notifyPass() }
            #expect(
                try await core.count(
                    "SELECT count(*) FROM notifications WHERE type = 'payment_link.expired' AND link = \("/links/" + due.id.rawValue)") == 1)
            #expect(try await payments.links.find(id: open.id)?.status(at: Date()) == .active)
            #expect(try await payments.links.list(accountID: account, status: .expired).map(\.id) == [due.id])
        }
    }
}

extension Browser {
    /// The value of the `href` on the tag that also carries `marker` (e.g. the rel="next" link).
    static func attribute(in html: String, after prefix: String, where marker: String) -> String? {
        guard let markerRange = html.range(of: marker) else { return nil }
        let before = html[..<markerRange.lowerBound]
        guard let start = before.range(of: prefix, options: .backwards) else { return nil }
        let rest = before[start.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }
}

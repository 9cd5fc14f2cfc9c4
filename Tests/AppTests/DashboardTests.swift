import Foundation
import KassaTestSupport
import PaymentCore
import PostgresNIO
import Testing

@testable import App

@Suite("Dashboard: the last 30 days drawn from the kept totals")
struct DashboardTests {
    /// One payment of the account of `email`, made `daysAgo` UTC days ago (at 10:00), written as the
    /// checkout writes it: the row and its events, so the totals consumer derives its day bucket.
    static func payment(
        _ app: TestApp, email: String, daysAgo: Int, amount: Int64, currency: String = "EUR", outcome: String = "succeeded",
        refunded: Int64 = 0
    ) async throws {
        let id = Identifier.make("pay")
        let status = outcome == "failed" ? "failed" : (refunded == 0 ? "succeeded" : (refunded == amount ? "refunded" : "partially_refunded"))
        let day = UTCDay.start(of: Date()).addingTimeInterval(Double(-daysAgo) * 86_400 + 36_000)
        let at = Formats.iso8601(min(day, Date().addingTimeInterval(-60)))
        try await app.execute(
            """
            INSERT INTO payments (account_id, id, status, amount, currency, description, amount_refunded, attempt_id, issuer_id, card_brand,
                                  card_last4, card_exp_month, card_exp_year, failure_code, processing_started_at, created_at, updated_at)
            SELECT u.account_id, \(id), \(status), \(amount), \(currency), 'Chart beans', \(refunded), \(Identifier.make("att")), 'iss_test_visa',
                   'visa', '4242', 12, 2030, \(outcome == "failed" ? "card_declined" : nil), \(at)::timestamptz, \(at)::timestamptz, \(at)::timestamptz
            FROM users u WHERE u.email = \(email)
            """)
        var events: [(String, String)] = [
            ("payment.created", #"{"status":"requires_payment","amount":\#(amount),"currency":"\#(currency)"}"#),
            ("payment.processing", #"{"status":"processing"}"#),
        ]
        if outcome == "failed" {
            events.append(("payment.failed", #"{"status":"failed","failure_code":"card_declined"}"#))
        } else {
            events.append(("payment.succeeded", #"{"status":"succeeded","amount":\#(amount),"currency":"\#(currency)"}"#))
            if refunded > 0 {
                events.append(
                    ("payment.refunded", #"{"status":"\#(status)","amount":\#(refunded),"amount_refunded":\#(refunded),"currency":"\#(currency)"}"#))
            }
        }
        for (type, data) in events {
            try await app.execute(
                """
                INSERT INTO payment_events (account_id, id, payment_id, type, data, created_at)
                SELECT u.account_id, \(Identifier.make("evt")), \(id), \(type), \(data)::jsonb, \(at)::timestamptz FROM users u WHERE u.email = \(email)
                """)
        }
    }

    /// `(day, gross)` of every bar the page draws for `currency`, and each bar's height.
    static func bars(_ html: String, currency: String) -> [(day: String, gross: Int64, height: Double)] {
        guard let start = html.range(of: "aria-labelledby=\"volume-\(currency.lowercased())-title") else { return [] }
        let svg = html[start.upperBound...]
        let body = String(svg[..<(svg.range(of: "</svg>")?.lowerBound ?? svg.endIndex)])
        return body.components(separatedBy: "<g class=\"chart-bar\"").dropFirst().compactMap { bar in
            guard let day = Browser.attribute(in: bar, after: #" data-day=""#),
                let gross = Browser.attribute(in: bar, after: #" data-gross=""#).flatMap(Int64.init),
                let height = Browser.attribute(in: bar, after: #" height=""#).flatMap(Double.init)
            else { return nil }
            return (day, gross, height)
        }
    }

    @Test func theBarsAreTheDayTotalsThePaymentsHold() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            let email = AccountsTests.uniqueEmail()
            try await merchant.signUp(email: email)
            try await merchant.acceptCards()
            // Today through the real checkout; earlier days written as the checkout writes them.
            let link = try await merchant.createLink(amount: "12.50")
            _ = try await Browser(client).pay(link.path)
            try await Self.payment(app, email: email, daysAgo: 1, amount: 4_000)
            try await Self.payment(app, email: email, daysAgo: 1, amount: 1_000, refunded: 1_000)
            try await Self.payment(app, email: email, daysAgo: 1, amount: 700, outcome: "failed")
            try await Self.payment(app, email: email, daysAgo: 6, amount: 9_900, refunded: 900)
            try await Self.payment(app, email: email, daysAgo: 29, amount: 300)
            try await Self.payment(app, email: email, daysAgo: 30, amount: 123_456)  // one day too old for the chart
            try await Self.payment(app, email: email, daysAgo: 3, amount: 2_500, currency: "USD")
            try await app.drain()

            let page = try await merchant.get("/dashboard")
            #expect(page.status == .ok)
            // What the payments themselves say, per UTC day, over the 30 days the chart covers.
            var held: [String: [String: Int64]] = [:]
            try await TestServices.withConnection(to: app.databaseName) { connection in
                let rows = try await connection.query(
                    """
                    SELECT to_char((p.created_at AT TIME ZONE 'UTC')::date, 'YYYY-MM-DD'), p.currency, sum(p.amount)::bigint
                    FROM payments p JOIN users u ON u.account_id = p.account_id
                    WHERE u.email = \(email) AND p.status IN ('succeeded', 'partially_refunded', 'refunded')
                      AND p.created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '29 days'
                    GROUP BY 1, 2
                    """, logger: TestServices.logger)
                for try await (day, currency, gross) in rows.decode((String, String, Int64).self) { held[currency, default: [:]][day] = gross }
            }
            #expect(held["EUR"]?.count == 4 && held["USD"]?.count == 1, "\(held)")
            for currency in ["EUR", "USD"] {
                let bars = Self.bars(page.body, currency: currency)
                #expect(Dictionary(uniqueKeysWithValues: bars.map { ($0.day, $0.gross) }) == held[currency], "\(currency): \(bars)")
                // Heights in proportion, the busiest day full height (100 in the SVG's space).
                let peak = bars.map(\.gross).max() ?? 1
                for bar in bars { #expect(abs(bar.height - max(0.5, Double(bar.gross) / Double(peak) * 100)) < 0.01, "\(bar)") }
            }
            // The rates: EUR took 1250 + 4000 + 1000 + 9900 + 300 in 5 of 6 attempts; 1900 of 16450 refunded.
            #expect(page.body.contains("€164.50"))
            #expect(page.body.contains("83.3%"))
            #expect(page.body.contains("11.6%"))
            // What a screen reader hears: each chart's title and description.
            #expect(page.body.contains("<title id=\"volume-eur-title\">Gross volume in EUR per day, last 30 days</title>"))
            #expect(page.body.contains("€164.50 in 5 payments from "))
            #expect(page.body.contains("<title id=\"rate-usd-title\">"))
        }
    }

    /// The dashboard reads its figures, the badge and these links in one statement
    /// (`Payments.dashboard`): live links running out within three days, soonest first.
    @Test func linksRunningOutAreListedSoonestFirst() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            let email = AccountsTests.uniqueEmail()
            try await merchant.signUp(email: email)
            try await merchant.acceptCards()
            #expect(!(try await merchant.get("/dashboard").body.contains("Links expiring soon")))
            let runsOut: [(String, String)] = [
                ("In two days", "now() + interval '2 days'"), ("In an hour", "now() + interval '1 hour'"),
                ("In ten days", "now() + interval '10 days'"), ("Revoked", "now() + interval '3 hours'"),
                ("Used up", "now() + interval '4 hours'"),
            ]
            for (description, at) in runsOut {
                let link = try await merchant.createLink(description: description)
                try await app.execute(
                    "UPDATE payment_links SET expires_at = \(unescaped: at) WHERE id = \(link.id)")
            }
            try await app.execute("UPDATE payment_links SET revoked_at = now() WHERE description = 'Revoked'")
            try await app.execute("UPDATE payment_links SET uses = max_uses WHERE description = 'Used up'")
            let page = try await merchant.get("/dashboard")
            #expect(page.status == .ok)
            let hour = try #require(page.body.range(of: ">In an hour</a>"))
            let twoDays = try #require(page.body.range(of: ">In two days</a>"))
            #expect(hour.lowerBound < twoDays.lowerBound)
            for gone in ["In ten days", "Revoked", "Used up"] { #expect(!page.body.contains(">\(gone)</a>"), "\(gone)") }
            // The badge beside them, read in the same statement: nothing unread yet.
            #expect(!page.body.contains(#"class="badge""#))
        }
    }

    /// Read in one statement with the figures when there is no replica (`DashboardWithRecent`),
    /// the links running out in a second one only when some do.
    @Test func theRecentPaymentsAreTheNewestTenBesideTheLinksRunningOut() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            try await merchant.acceptCards()
            for number in 1...11 {
                let link = try await merchant.createLink(description: "Order \(number)")
                _ = try await Browser(client).pay(link.path)
            }
            var page = try await merchant.get("/dashboard")
            #expect(page.status == .ok)
            #expect(!page.body.contains("Links expiring soon"))
            let shown = (1...11).filter { page.body.contains(">Order \($0)</td>") }
            #expect(shown == Array(2...11))
            let newest = try #require(page.body.range(of: ">Order 11</td>"))
            let older = try #require(page.body.range(of: ">Order 2</td>"))
            #expect(newest.lowerBound < older.lowerBound)
            let soon = try await merchant.createLink(description: "Runs out soon")
            try await app.execute("UPDATE payment_links SET expires_at = now() + interval '5 hours' WHERE id = \(soon.id)")
            page = try await merchant.get("/dashboard")
            #expect(page.body.contains(">Runs out soon</a>"))
            #expect((1...11).filter { page.body.contains(">Order \($0)</td>") } == Array(2...11))
        }
    }

    @Test func aMerchantWithoutPaymentsSeesNoChart() async throws {
        let app = try await TestApp.make()
        try await app.run { client in
            let merchant = Browser(client)
            try await merchant.signUp(email: AccountsTests.uniqueEmail())
            let page = try await merchant.get("/dashboard")
            #expect(page.status == .ok)
            #expect(!page.body.contains("chart-svg"))
            #expect(page.body.contains("Start taking payments"))
        }
    }

    @Test func chartNumbersAreStableText() {
        #expect(VolumeChart.fixed(12) == "12")
        #expect(VolumeChart.fixed(12.5) == "12.5")
        #expect(VolumeChart.fixed(12.345) == "12.35")
        #expect(VolumeChart.fixed(0.001) == "0")
        #expect(VolumeChart.percent(5.0 / 6.0) == "83.3%")
        #expect(VolumeChart.percent(1) == "100%")
        #expect(VolumeChart.percent(0) == "0%")
    }
}

extension DashboardTests {
    @Test func drawnChartsAreKeptPerMerchantAndDayForAFewSeconds() async throws {
        let cache = ChartCache(ttl: .milliseconds(200))
        let (a, b) = (AccountID.make(), AccountID.make())
        cache.put(a, day: "2026-12-01", html: "<svg>a</svg>")
        #expect(cache.get(a, day: "2026-12-01") == "<svg>a</svg>")
        #expect(cache.get(b, day: "2026-12-01") == nil)
        #expect(cache.get(a, day: "2026-12-02") == nil, "a new UTC day draws anew")
        try await Task.sleep(for: .milliseconds(300))
        #expect(cache.get(a, day: "2026-12-01") == nil, "gone after its time")
    }
}

import Foundation
import KassaTestSupport
import PaymentCore
import PostgresNIO
import Testing

@testable import App

@Suite("kassa seed-demo: a merchant with ninety days that look lived")
struct DemoSeederTests {
    @Test func theDemoHistoryHoldsEveryKindOfPaymentAndItsMoneyAddsUp() async throws {
        let app = try await TestApp.make()
        var database = app.configuration.database
        database.maximumConnections = 4
        try await check(app, database)
    }

    func check(_ app: TestApp, _ database: AppConfiguration.DatabaseConfiguration) async throws {
        try await DatabaseTools.withClient(database, logger: TestServices.logger) { client in
            #expect(
                try await DemoSeeder.seed(
                    database: client, secretKey: Array(repeating: 9, count: 32), password: "demo-test-password", logger: TestServices.logger))
            #expect(
                try await DemoSeeder.seed(
                    database: client, secretKey: Array(repeating: 9, count: 32), password: "demo-test-password", logger: TestServices.logger) == false
            )

            let count = app.count
            let payments = try await count("SELECT count(*) FROM payments")
            #expect((1_900...2_200).contains(payments), "\(payments) payments")
            // Every state a payment rests in (processing lasts seconds), three currencies, ninety days.
            #expect(try await count("SELECT count(DISTINCT status) FROM payments") == 7)
            #expect(try await count("SELECT count(DISTINCT currency) FROM payments") == 3)
            #expect(try await count("SELECT count(DISTINCT failure_code) FROM payments") == 5)
            #expect(try await count("SELECT count(DISTINCT (created_at AT TIME ZONE 'UTC')::date) FROM payments") >= 85)
            #expect(try await count("SELECT count(*) FROM payments WHERE created_at > now()") == 0)
            // Busier on weekdays and in the afternoon than at the weekend and at night.
            let weekday = try await count("SELECT count(*) FROM payments WHERE extract(isodow FROM created_at AT TIME ZONE 'UTC') < 6") / 5
            let weekend = try await count("SELECT count(*) FROM payments WHERE extract(isodow FROM created_at AT TIME ZONE 'UTC') >= 6") / 2
            #expect(weekday > weekend * 2, "\(weekday) a weekday, \(weekend) a weekend day")
            #expect(
                try await count("SELECT count(*) FROM payments WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') BETWEEN 12 AND 15")
                    > 3
                    * (try await count("SELECT count(*) FROM payments WHERE extract(hour FROM created_at AT TIME ZONE 'UTC') NOT BETWEEN 9 AND 18")))
            // Bookings through the form carry its answers.
            #expect(try await count("SELECT count(*) FROM payments WHERE payment_form_id IS NOT NULL AND jsonb_array_length(custom_fields) = 2") > 20)
            // The money adds up: every refund row matches its payment, and the ledger holds.
            #expect(
                try await count(
                    """
                    SELECT count(*) FROM payments p
                    WHERE p.amount_refunded <> coalesce((SELECT sum(amount) FROM refunds r WHERE r.account_id = p.account_id AND r.payment_id = p.id), 0)
                    """) == 0)
            let audit = try await Ledger(database: client, logger: TestServices.logger).audit()
            #expect(audit.holds, "\(audit)")
            // The history's notifications are there, dated as their events and already read.
            #expect(try await count("SELECT count(*) FROM notifications") > 1_500)
            #expect(try await count("SELECT count(*) FROM notifications WHERE read_at IS NULL") < 30)
            // Every day before today is settled, paid out, and adds up to the ledger.
            #expect(try await count("SELECT count(*) FROM settlements WHERE status = 'paid'") > 100)
            let problems = try await Settlements(database: client, logger: TestServices.logger).discrepancies()
            #expect(problems.isEmpty, "\(problems.prefix(3))")
        }
    }
}

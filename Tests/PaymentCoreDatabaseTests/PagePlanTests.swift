import Foundation
import KassaTestSupport
import PostgresNIO
import Testing

@testable import PaymentCore

@Suite("The pages' prepared statements under PostgreSQL's generic plans")
struct PagePlanTests {
    /// PostgreSQL plans a prepared statement for no merchant in particular after its fifth run. The
    /// dashboard's question "does any link run out soon" then read every link of every merchant
    /// (`make bench`: 3 ms per view for a merchant without links, beside one with 7,192); migration
    /// 0032 gives it an index by account and expiry. Here one merchant has 3,000 live links and the
    /// dashboard of another, planned generically, must not scan them.
    @Test func theDashboardReadsOnlyItsOwnLinksWhateverOthersHave() async throws {
        try await CoreHarness.run { harness in
            let busy = try await harness.merchant()
            let quiet = try await harness.merchant()
            try await harness.client.query(
                """
                INSERT INTO payment_links (account_id, id, amount, currency, description, max_uses, expires_at)
                SELECT \(busy), 'plink_' || lpad(g::text, 24, '0'), 1999, 'EUR', 'Beans', 1, now() + (g || ' minutes')::interval
                FROM generate_series(1, 3000) g
                """, logger: harness.logger)
            try await harness.client.query("ANALYZE payment_links", logger: harness.logger)
            let plan = try await harness.client.withConnection { connection in
                try await connection.query("SET plan_cache_mode = force_generic_plan", logger: harness.logger)
                try await connection.query(
                    PostgresQuery(unsafeSQL: "PREPARE dashboard (text, float8) AS " + DashboardWithRecent.sql), logger: harness.logger)
                var lines: [String] = []
                // An account id is letters and digits after `acct_` (a CHECK holds it so).
                let rows = try await connection.query(
                    PostgresQuery(unsafeSQL: "EXPLAIN EXECUTE dashboard ('\(quiet.rawValue)', 259200)"), logger: harness.logger)
                for try await line in rows.decode(String.self) { lines.append(line) }
                return lines.joined(separator: "\n")
            }
            #expect(plan.contains("payment_links_expiring_idx"), "\(plan)")
            #expect(!plan.contains("Seq Scan on payment_links"), "\(plan)")
        }
    }
}

import Foundation
import KassaTestSupport
import PostgresNIO
import Synchronization
import Testing

@testable import App
@testable import PaymentCore

@Suite("The event log: consumers read in commit order, once, and derive the ledger and totals")
struct EventLogTests {
    /// A payment of `account` with one event, written by hand in the caller's transaction.
    static func append(_ connection: PostgresConnection, account: AccountID, id: String, logger: Logger) async throws {
        try await connection.query(
            """
            WITH p AS (
                INSERT INTO payments (account_id, id, status, amount, currency) VALUES (\(account), \(id), 'requires_payment', 100, 'EUR')
                RETURNING account_id, id
            )
            INSERT INTO payment_events (account_id, id, payment_id, type, data)
            SELECT account_id, 'evt_' || substr(id, 5), id, 'payment.created', '{"amount":100,"currency":"EUR","status":"requires_payment"}' FROM p
            """,
            logger: logger
        )
    }

    /// The table admits exactly the kinds `EventType` names: the code can read every row, and can
    /// write every kind it has.
    @Test func theTableAndEventTypeNameTheSameKinds() async throws {
        try await CoreHarness.run { core in
            let rows = try await core.client.query(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'payment_events_type_known'", logger: core.logger
            )
            var definition = ""
            for try await text in rows.decode(String.self) { definition = text }
            let named = definition.split(separator: "'").enumerated().filter { $0.offset % 2 == 1 }.map { String($0.element) }
            #expect(Set(named) == Set(EventType.allCases.map(\.rawValue)), "\(definition)")
        }
    }

    /// The log and the transfers are partitioned by month: the worker makes the months ahead once
    /// (a second call makes none), an event and its transfer land in their month's partitions, a
    /// month nobody made refuses the row rather than losing it, and detaching a month of the log is
    /// refused while transfers still point into it.
    @Test func theLogAndTheTransfersArePartitionedByMonth() async throws {
        try await CoreHarness.run { core in
            let log = EventLog(database: core.client, logger: core.logger)
            _ = try await log.ensurePartitions(monthsAhead: 5)
            #expect(try await log.ensurePartitions(monthsAhead: 5) == 0)
            let names = try await core.client.query(
                """
                SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent IN ('payment_events'::regclass, 'ledger_transfers'::regclass) ORDER BY 1
                """, logger: core.logger)
            var partitions: [String] = []
            for try await name in names.decode(String.self) { partitions.append(name) }
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = TimeZone(identifier: "UTC")!
            for step in 1...5 {
                let month = utc.date(byAdding: .month, value: step, to: Date())!
                let suffix = String(format: "_%04d_%02d", utc.component(.year, from: month), utc.component(.month, from: month))
                #expect(
                    partitions.contains("payment_events" + suffix) && partitions.contains("ledger_transfers" + suffix), "\(suffix): \(partitions)")
            }
            #expect(partitions.contains("payment_events_early") && partitions.contains("ledger_transfers_early"))

            // An event and its transfer dated two months from now land in that month's partitions
            // (in a transaction rolled back: the books stay as they were).
            let account = try await core.merchant()
            let later = utc.date(byAdding: .month, value: 2, to: Date())!
            let suffix = String(format: "_%04d_%02d", utc.component(.year, from: later), utc.component(.month, from: later))
            try await TestServices.withConnection(to: core.databaseName) { connection in
                _ = try await connection.query("BEGIN", logger: core.logger)
                try await connection.query(
                    """
                    WITH p AS (
                        INSERT INTO payments (account_id, id, status, amount, currency) VALUES (\(account), 'pay_MONTHSMONTHSMONTHSMONTHS', 'requires_payment', 100, 'EUR')
                        RETURNING account_id, id
                    ), e AS (
                        INSERT INTO payment_events (account_id, id, payment_id, type, data, created_at)
                        SELECT account_id, 'evt_MONTHSMONTHSMONTHSMONTHS', id, 'payment.succeeded', '{}', \(later) FROM p
                        RETURNING account_id, id, payment_id, created_at
                    )
                    INSERT INTO ledger_transfers (account_id, event_id, payment_id, debit, credit, currency, amount, created_at)
                    SELECT account_id, id, payment_id, 'payer_funds', 'merchant_balance', 'EUR', 100, created_at FROM e
                    """, logger: core.logger)
                let placed = try await connection.query(
                    """
                    SELECT (SELECT tableoid::regclass::text FROM payment_events WHERE id = 'evt_MONTHSMONTHSMONTHSMONTHS'),
                           (SELECT tableoid::regclass::text FROM ledger_transfers WHERE event_id = 'evt_MONTHSMONTHSMONTHSMONTHS')
                    """, logger: core.logger)
                for try await (event, transfer) in placed.decode((String?, String?).self) {
                    #expect(event == "payment_events" + suffix && transfer == "ledger_transfers" + suffix)
                }
                // The README's order: the transfers' month before the log's.
                do {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "ALTER TABLE payment_events DETACH PARTITION payment_events\(suffix)"), logger: core.logger)
                    Issue.record("a month of the log was detached while transfers point into it")
                } catch let error as PSQLError {
                    #expect(error.serverInfo?[.sqlState] == "23503", "\(String(reflecting: error))")
                }
                _ = try await connection.query("ROLLBACK", logger: core.logger)
            }
            // Past the months made: refused, never dropped.
            try await core.client.query(
                """
                INSERT INTO payments (account_id, id, status, amount, currency)
                VALUES (\(account), 'pay_FARFUTUREFARFUTUREFARFUT', 'requires_payment', 100, 'EUR')
                """, logger: core.logger)
            do {
                try await core.client.query(
                    """
                    INSERT INTO payment_events (account_id, id, payment_id, type, data, created_at)
                    VALUES (\(account), 'evt_FARFUTUREFARFUTUREFARFUTU', 'pay_FARFUTUREFARFUTUREFARFUT', 'payment.created', '{}', now() + interval '3 years')
                    """, logger: core.logger)
                Issue.record("an event three years ahead was accepted")
            } catch let error as PSQLError {
                #expect(
                    error.serverInfo?[.message]?.contains("no partition of relation \"payment_events\" found") == true, "\(String(reflecting: error))"
                )
            }
        }
    }

    /// The README's archiving of a month, run: refused while the month runs and until its days are
    /// settled; then its transfers' sums and its settlement items stay behind, the two partitions
    /// are detached and dropped, and the ledger's audit, the settlements' reconciliation and the
    /// balances are what they were.
    @Test func anArchivedMonthLeavesTheBooksAddingUp() async throws {
        try await CoreHarness.run { core in
            var utc = Calendar(identifier: .gregorian)
            utc.timeZone = TimeZone(identifier: "UTC")!
            let monthStart = utc.date(from: utc.dateComponents([.year, .month], from: Date()))!
            let nextMonth = utc.date(byAdding: .month, value: 1, to: monthStart)!
            let suffix = String(format: "%04d_%02d", utc.component(.year, from: monthStart), utc.component(.month, from: monthStart))
            func run(_ sql: String) async throws { try await core.client.query(PostgresQuery(unsafeSQL: sql), logger: core.logger) }
            // As if the tables had been partitioned before this month: the first partitions end where it begins.
            try await run("ALTER TABLE ledger_transfers DETACH PARTITION ledger_transfers_early")
            try await run("ALTER TABLE payment_events DETACH PARTITION payment_events_early")
            for table in ["payment_events", "ledger_transfers"] {
                try await run(
                    "ALTER TABLE \(table) ATTACH PARTITION \(table)_early FOR VALUES FROM (MINVALUE) TO ('\(UTCDay.iso(monthStart))T00:00:00Z')")
            }
            _ = try await EventLog(database: core.client, logger: core.logger).ensurePartitions(monthsAhead: 1)

            let payments = core.payments()
            let account = try await core.merchant()
            let paid = try await payments.pay(core.checkout(try await core.link(account, amount: 5000)))
            _ = try await payments.refund(accountID: account, paymentID: paid.id, amount: 1250, reason: "One bag missing")
            try await core.catchUp()
            #expect(
                try await core.text("SELECT DISTINCT tableoid::regclass::text FROM payment_events WHERE payment_id = \(paid.id)") == "payment_events_"
                    + suffix)

            func refusal(_ query: PostgresQuery) async -> String {
                do {
                    // A function's error arrives with its rows: read them.
                    for try await _ in try await core.client.query(query, logger: core.logger) {}
                    return "accepted"
                } catch let error as PSQLError { return error.serverInfo?[.message] ?? "" } catch { return "\(error)" }
            }
            let later = nextMonth.addingTimeInterval(86400)
            #expect(await refusal("SELECT kassa_archive_prepare(\(suffix))").contains("is not over"))
            #expect(await refusal("SELECT kassa_archive_prepare(\(suffix), \(later))").contains("are not all settled yet"))
            let settlements = Settlements(database: core.client, logger: core.logger)
            _ = try await settlements.close(until: nextMonth)
            let balances = try await payments.balances(accountID: account)

            let statements = try #require(try await core.text("SELECT kassa_archive_prepare(\(suffix), \(later))"))
            #expect(statements.contains("ALTER TABLE ledger_transfers DETACH PARTITION ledger_transfers_\(suffix) CONCURRENTLY;"))
            // The README runs them with psql, one at a time (CONCURRENTLY wants no transaction around
            // it), each followed by pg_dump and DROP TABLE: a detached month of transfers still
            // points into the log's month until it is dropped.
            for (statement, table) in zip(statements.split(separator: "\n"), ["ledger_transfers", "payment_events"]) {
                try await run(statement.replacingOccurrences(of: " CONCURRENTLY;", with: ""))
                try await run("DROP TABLE \(table)_\(suffix)")
            }

            #expect(try await core.count("SELECT count(*) FROM settlement_items_archive") == 2)
            #expect(try await core.text("SELECT gross || '/' || refunds || '/' || transfers FROM ledger_archive") == "5000/1250/2")
            #expect(try await payments.ledger.audit().holds)
            #expect(try await settlements.discrepancies().isEmpty)
            #expect(try await payments.balances(accountID: account) == balances)
            #expect(await refusal("SELECT kassa_archive_prepare(\(suffix), \(later))").contains("there are no partitions"))
        }
    }

    /// T1 appends and stays open, T2 appends and commits, the consumer runs, T1 commits, the
    /// consumer runs again: both events are consumed, in commit order. A consumer reading
    /// `seq > cursor` would have skipped T1's event for good (its seq is lower than T2's).
    @Test func aConsumerNeverSkipsAnEventThatCommitsLate() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let log = EventLog(database: core.client, logger: core.logger)
            let seen = Mutex<[String]>([])
            let consume: @Sendable () async throws -> Int = {
                try await log.consume(.notifications, limit: 100) { _, events in seen.withLock { $0 += events.map(\.id) } }
            }
            try await core.drain(.notifications, consume)
            seen.withLock { $0 = [] }

            try await TestServices.withConnection(to: core.databaseName) { t1 in
                _ = try await t1.query("BEGIN", logger: core.logger)
                try await Self.append(t1, account: account, id: "pay_LATELATELATELATELATELATE", logger: core.logger)
                try await TestServices.withConnection(to: core.databaseName) { t2 in
                    _ = try await t2.query("BEGIN", logger: core.logger)
                    try await Self.append(t2, account: account, id: "pay_EARLYEARLYEARLYEARLYEARL", logger: core.logger)
                    _ = try await t2.query("COMMIT", logger: core.logger)
                }
                // T2 committed, but T1 (older) is still open: T2's event must wait behind it.
                _ = try await consume()
                #expect(seen.withLock { $0 }.isEmpty, "consumed past a transaction still open")
                _ = try await t1.query("COMMIT", logger: core.logger)
            }
            try await core.drain(.notifications, consume)
            #expect(seen.withLock { $0 } == ["evt_LATELATELATELATELATELATE", "evt_EARLYEARLYEARLYEARLYEARL"])
            // The late one took the lower sequence number: a cursor on seq alone would have passed it.
            let late = try await core.count("SELECT seq FROM payment_events WHERE id = 'evt_LATELATELATELATELATELATE'")
            let early = try await core.count("SELECT seq FROM payment_events WHERE id = 'evt_EARLYEARLYEARLYEARLYEARL'")
            #expect(late < early)
        }
    }

    /// A consumer whose connection is killed in the middle of a pass leaves no trace; the next pass
    /// does the work once. A pass that committed is never repeated.
    @Test func aConsumerKilledMidBatchDuplicatesNothing() async throws {
        try await CoreHarness.run { core in
            let account = try await core.merchant()
            let payments = core.payments()
            for _ in 0..<3 { _ = try await payments.pay(core.checkout(try await core.link(account))) }
            let (consumers, _) = WebhookTests.workers(core)
            let log = EventLog(database: core.client, logger: core.logger)
            // Every event readable (no transaction anywhere older than them still open, in any test's
            // database), so the pass has work.
            for _ in 0..<9000
            where try await core.count("SELECT count(*) FROM payment_events WHERE xid < pg_snapshot_xmin(pg_current_snapshot())") < 9 {
                try await Task.sleep(for: .milliseconds(20))
            }

            // MUT: a pass writes its notifications, then dies before COMMIT. PostgreSQL rolls back the
            // transaction of a session that ends exactly as it rolls back this one; killing the session
            // itself (pg_terminate_backend) left PostgresNIO's pool waiting for ever about one run in
            // five, hanging the suite. Connections really lost under running consumers are make drills'
            // PostgreSQL crash, after which the ledger audit finds nothing doubled.
            struct Died: Error {}
            await #expect(throws: Died.self) {
                try await log.consume(.notifications, limit: 100) { connection, events in
                    #expect(!events.isEmpty)
                    try await connection.query(
                        """
                        INSERT INTO notifications (account_id, id, event_id, type, title, body)
                        SELECT \(account), 'ntf_' || substr(md5(e), 1, 24), e, 'payment.succeeded', 'half', 'done'
                        FROM unnest(\(events.map(\.id))) AS e
                        """,
                        logger: core.logger
                    )
                    #expect(try await core.count("SELECT count(*) FROM notifications") == 0, "not visible before COMMIT")
                    throw Died()
                }
            }
            #expect(try await core.count("SELECT count(*) FROM notifications") == 0)

            // The real consumer then makes each notification once, and a second run adds nothing.
            try await core.drain(.notifications) { try await consumers.notifyPass() }
            #expect(try await core.count("SELECT count(*) FROM notifications") == 3)
            #expect(try await consumers.notifyPass() == 0)
            #expect(try await core.count("SELECT count(*) FROM notifications") == 3)
            #expect(try await core.count("SELECT count(DISTINCT event_id) FROM notifications") == 3)

            // The ledger's pass is one statement: killed or not, each event has one transfer.
            try await core.catchUp()
            #expect(try await core.count("SELECT count(*) FROM ledger_transfers") == 3)
            #expect(try await payments.ledger.consume() == 0)
        }
    }

    /// The totals the consumer keeps per day equal the totals summed over the payments themselves,
    /// whatever happened to the payments: paid, declined, waiting, expired, partly and fully
    /// refunded, in two currencies, one of them made on another day, consumed in any batch sizes.
    @Test(arguments: [1, 3, 1000])
    func keptTotalsEqualTotalsSummedFromThePayments(batch: Int) async throws {
        try await CoreHarness.run { core in
            let payments = core.payments()
            let account = try await core.merchant()
            let other = try await core.merchant()
            var paid: [Payment] = []
            for _ in 0..<3 { paid.append(try await payments.pay(core.checkout(try await core.link(account, amount: 2500)))) }
            _ = try await payments.pay(core.checkout(try await core.link(account, amount: 4000), card: "4000000000000002"))
            _ = try await payments.pay(core.checkout(try await core.link(account, amount: 1000, currency: .usd)))
            _ = try await payments.pay(core.checkout(try await core.link(other, amount: 9900)))
            // Payments waiting for a card, one of whose links then expires.
            let waiting = try await core.link(account)
            try await core.client.query(
                """
                WITH p AS (
                    INSERT INTO payments (account_id, id, status, amount, currency, payment_link_id)
                    VALUES (\(account), 'pay_WAITINGWAITINGWAITINGWAI', 'requires_payment', 700, 'EUR', \(waiting.id)),
                           (\(account), 'pay_WAITING2WAITING2WAITING2', 'requires_payment', 800, 'EUR', NULL)
                    RETURNING account_id, id
                )
                INSERT INTO payment_events (account_id, id, payment_id, type, data)
                SELECT account_id, 'evt_' || substr(id, 5), id, 'payment.created', '{"status":"requires_payment"}' FROM p
                """,
                logger: core.logger
            )
            try await core.client.query(
                "UPDATE payment_links SET created_at = now() - interval '2 days', expires_at = now() - interval '1 second' WHERE id = \(waiting.id)",
                logger: core.logger
            )
            _ = try await payments.links.expireDue()
            _ = try await payments.refund(accountID: account, paymentID: paid[0].id, amount: 500, reason: nil)
            _ = try await payments.refund(accountID: account, paymentID: paid[0].id, amount: 700, reason: nil)
            _ = try await payments.refund(accountID: account, paymentID: paid[1].id, amount: nil, reason: nil)
            try await core.client.query(
                "UPDATE payments SET created_at = created_at - interval '3 days' WHERE account_id = \(account) AND id = \(paid[2].id)",
                logger: core.logger
            )

            try await core.drain(.totals) { try await payments.history.consumeTotals(limit: batch) }

            let today = Date(timeIntervalSince1970: (Date().timeIntervalSince1970 / 86400).rounded(.down) * 86400)
            let threeDaysAgo = today.addingTimeInterval(-3 * 86400)
            let filters: [PaymentHistory.Filter] = [
                .init(), .init(statuses: [.succeeded]), .init(statuses: [.failed, .expired]), .init(statuses: [.processing]),
                .init(statuses: [.partiallyRefunded, .refunded]), .init(statuses: [.requiresPayment]), .init(from: today),
                .init(through: threeDaysAgo),
                .init(from: threeDaysAgo, through: threeDaysAgo), .init(statuses: [.succeeded], from: threeDaysAgo, through: today),
                .init(from: today.addingTimeInterval(86400)),
            ]
            for filter in filters {
                let kept = try await payments.history.totals(accountID: account, filter: filter)
                let described = kept.map { "\($0.currency.code) \($0.count) \($0.net.minorUnits) \($0.refunded.minorUnits)" }
                #expect(described == (try await Self.summedTotals(core, account: account, filter: filter)), "\(filter)")
            }
            let all = try await payments.history.totals(accountID: account, filter: .init())
            #expect(all.map(\.count) == [6, 1])
            #expect(all.first?.net == Money(minorUnits: 1300 + 2500, currency: .eur))
            #expect(all.first?.refunded == Money(minorUnits: 3700, currency: .eur))
            #expect(try await core.count("SELECT count(*) FROM payment_totals WHERE count < 0 OR amount < 0 OR refunded < 0") == 0)
            #expect(try await payments.history.totalsAsOf(filter: .init()) == nil)

            _ = try await core.drain(.ledger) { try await payments.ledger.consume() }
            // A totals consumer more than a second behind: the page's one totals query also says up
            // to when they hold (the oldest event not read yet); a search sums payments and never lags.
            try await core.client.query(
                """
                WITH p AS (
                    INSERT INTO payments (account_id, id, status, amount, currency, payment_link_id)
                    VALUES (\(account), 'pay_LAGGINGLAGGINGLAGGINGLAG', 'requires_payment', 900, 'EUR', NULL)
                    RETURNING account_id, id
                )
                INSERT INTO payment_events (account_id, id, payment_id, type, data, created_at)
                SELECT account_id, 'evt_' || substr(id, 5), id, 'payment.created', '{"status":"requires_payment"}', now() - interval '5 seconds'
                FROM p
                """,
                logger: core.logger
            )
            let lagging = try await payments.history.summary(accountID: account, filter: .init())
            #expect(lagging.totals == all)
            let since = try #require(lagging.asOf)
            #expect(abs(since.timeIntervalSinceNow + 5) < 3)
            #expect(try await payments.history.totalsAsOf(filter: .init()) == since)
            // The first page's one statement says what the page and the totals queries say.
            for merchant in [account, other, AccountID("acct_NOBODYNOBODYNOBODYNOBODY")] {
                let (page, summary, _) = try await payments.history.firstPage(accountID: merchant)
                let apart = try await payments.history.page(accountID: merchant, filter: .init())
                #expect(page.payments.map(\.id) == apart.payments.map(\.id) && page.nextCursor == apart.nextCursor)
                #expect(summary == (try await payments.history.summary(accountID: merchant, filter: .init())))
            }
            #expect(try await payments.history.firstPage(accountID: account).1.asOf == since)
            #expect(try await payments.history.summary(accountID: account, filter: .init(search: "coffee")).asOf == nil)
            // The dashboard's one query says the same, next to the balances the ledger keeps.
            let overview = try await payments.overview(accountID: account)
            #expect(overview.totalsAsOf == since && overview.hasMethods)
            #expect(overview.balances == (try await payments.balances(accountID: account)))
            #expect(overview.balancesAsOf == since)
            try await core.drain(.totals) { try await payments.history.consumeTotals(limit: batch) }
            let current = try await payments.history.summary(accountID: account, filter: .init())
            #expect(current.asOf == nil && current.totals.map(\.count) == [7, 1])
            #expect(try await payments.overview(accountID: account).totalsAsOf == nil)
            #expect(try await payments.overview(accountID: AccountID("acct_NOBODYNOBODYNOBODYNOBODY")).balances.isEmpty)
        }
    }

    /// The history's totals computed straight from the payments, as the page did before.
    static func summedTotals(_ core: CoreHarness, account: AccountID, filter: PaymentHistory.Filter) async throws -> [String] {
        let rows = try await core.client.query(
            """
            SELECT currency, count(*)::bigint,
                   coalesce(sum(amount - amount_refunded) FILTER (WHERE status IN ('succeeded', 'partially_refunded', 'refunded')), 0)::bigint,
                   coalesce(sum(amount_refunded), 0)::bigint
            FROM payments
            WHERE account_id = \(account) AND (cardinality(\(filter.statuses.map(\.rawValue))::text[]) = 0 OR status = ANY(\(filter.statuses.map(\.rawValue))))
              AND (\(filter.from)::timestamptz IS NULL OR created_at >= \(filter.from))
              AND (\(filter.through)::timestamptz IS NULL OR created_at < \(filter.through.map { $0.addingTimeInterval(86400) }))
            GROUP BY currency ORDER BY currency
            """,
            logger: core.logger
        )
        var totals: [String] = []
        for try await (code, count, net, refunded) in rows.decode((String, Int64, Int64, Int64).self) {
            totals.append("\(code) \(count) \(net) \(refunded)")
        }
        return totals
    }

    @Test(arguments: ["plain", "with \"quotes\" and \\ backslash", "a/b", "tab\there", "line\nbreak", "\u{01}control", "émoji 💳", ""])
    func eventDataIsWhatJSONEncoderWouldWrite(text: String) throws {
        var data = EventData(status: .succeeded, ["amount": .int(-12), "z": .string(text), "a_b": .string(text)])
        data["currency"] = .string("EUR")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let expected = String(
            decoding: try encoder.encode(["amount": "-12", "z": text, "a_b": text, "currency": "EUR", "status": "succeeded"]), as: UTF8.self)
        #expect(data.json == expected.replacingOccurrences(of: "\"-12\"", with: "-12"))
        // Answers are stored as jsonb, which keeps values, not bytes: they must read back the same.
        let answers = [FieldAnswer(label: "Size", value: text), FieldAnswer(label: text, value: "L")]
        #expect(try JSONDecoder().decode([FieldAnswer].self, from: Data(FieldAnswer.json(answers).utf8)) == answers)
    }
}

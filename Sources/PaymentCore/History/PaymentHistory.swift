import Foundation
import Logging
import PostgresNIO

/// The merchant's payment history: filters, keyset pagination and totals. One query model
/// for the HTML history, the CSV export and the API list.
public struct PaymentHistory: Sendable {
    let database: PostgresClient
    let logger: Logger

    public init(database: PostgresClient, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public struct Filter: Sendable, Equatable {
        public var statuses: [PaymentStatus]
        /// Inclusive UTC days.
        public var from: Date?
        public var through: Date?
        /// Matches the description or email (contains, any case) or the card's last four digits.
        public var search: String?
        public var linkID: LinkID?
        public var formID: FormID?
        /// Only payments made for this site (`Realm`).
        public var realm: String?

        public init(
            statuses: [PaymentStatus] = [], from: Date? = nil, through: Date? = nil, search: String? = nil, linkID: LinkID? = nil,
            formID: FormID? = nil, realm: String? = nil
        ) {
            self.realm = realm
            self.statuses = statuses
            self.from = from
            self.through = through
            self.search = search
            self.linkID = linkID
            self.formID = formID
        }
    }

    /// A page of whole payments (the API, the CSV export) or of payments as the lists show them
    /// (`ListedPayment`: the pages).
    public struct Page<Row: Sendable>: Sendable {
        public let payments: [Row]
        /// Pass as `after` for the next page; nil on the last page.
        public let nextCursor: String?
    }

    public struct Total: Sendable, Equatable {
        public let currency: Currency
        public let count: Int
        /// How many of them are in each status (only statuses that have any).
        public let counts: [PaymentStatus: Int]
        /// Captured minus refunded, over the payments that took money.
        public let net: Money
        public let refunded: Money
    }

    /// A page of the history, and the dashboard's recent payments.
    public static let pageSize = 25
    public static let recentSize = 10

    /// Newest first. `after` is the id of the last payment of the previous page; keyset
    /// pagination, so payments arriving meanwhile never shift or repeat a page.
    public func page(accountID: AccountID, filter: Filter, after: String? = nil, limit: Int = pageSize) async throws -> Page<Payment> {
        try await rows(accountID: accountID, filter: filter, after: after, limit: limit)
    }

    /// `page` as the merchant's lists show it: only the columns a row shows.
    public func listing(
        accountID: AccountID, filter: Filter, after: String? = nil, limit: Int = pageSize
    ) async throws -> Page<ListedPayment> {
        try await rows(accountID: accountID, filter: filter, after: after, limit: limit)
    }

    private func rows<Row: HistoryRow>(accountID: AccountID, filter: Filter, after: String?, limit: Int) async throws -> Page<Row> {
        if filter == Filter(), limit == Self.pageSize || (limit == Self.recentSize && after == nil) {
            // The unfiltered history and the dashboard's recent list: prepared statements.
            let payments =
                if let after {
                    try await allRows(database.execute(NewestPaymentsAfter<Row>(accountID: accountID, after: after), logger: logger))
                } else if limit == Self.pageSize {
                    try await allRows(database.execute(NewestPayments<Row>(accountID: accountID), logger: logger))
                } else {
                    try await allRows(database.execute(RecentPayments<Row>(accountID: accountID), logger: logger))
                }
            return Self.page(payments, limit: limit)
        }
        if !filter.statuses.isEmpty, filter == Filter(statuses: filter.statuses), after == nil, limit == Self.pageSize {
            let statement = PaymentsInStatuses<Row>(accountID: accountID, statuses: filter.statuses.map(\.rawValue))
            return Self.page(try await allRows(database.execute(statement, logger: logger)), limit: limit)
        }
        var sql = "SELECT \(Row.columns) FROM payments p WHERE "
        var bindings = PostgresBindings()
        where_(&sql, &bindings, accountID: accountID, filter: filter)
        if let after {
            bindings.append(after)
            sql += " AND (p.created_at, p.id) < (SELECT created_at, id FROM payments WHERE account_id = $1 AND id = $\(bindings.count))"
        }
        bindings.append(limit + 1)
        sql += " ORDER BY p.created_at DESC, p.id DESC LIMIT $\(bindings.count)"
        let rows = try await allRows(database.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger))
        return Self.page(try rows.map { try Row(row: $0) }, limit: limit)
    }

    /// Up to `limit` of `found` (which asked for one more, to know whether another page follows).
    private static func page<Row: HistoryRow>(_ found: [Row], limit: Int) -> Page<Row> {
        var payments = found
        let more = payments.count > limit
        if more { payments.removeLast() }
        return Page(payments: payments, nextCursor: more ? payments.last?.id.rawValue : nil)
    }

    /// Every matching payment, newest first, in batches (for the CSV export).
    public func each(accountID: AccountID, filter: Filter, batch: Int = 500, _ body: ([Payment]) async throws -> Void) async throws {
        var cursor: String? = nil
        repeat {
            let page = try await page(accountID: accountID, filter: filter, after: cursor, limit: batch)
            if !page.payments.isEmpty { try await body(page.payments) }
            cursor = page.nextCursor
        } while cursor != nil
    }

    /// Totals per currency of the payments the filter matches. A filter on statuses and days only
    /// (the history's usual view) reads the totals the totals consumer keeps per merchant, UTC day,
    /// currency and status, so its cost does not grow with the merchant; a search, a link, form or realm
    /// filter sums the matching payments.
    public func totals(accountID: AccountID, filter: Filter) async throws -> [Total] {
        try await summary(accountID: accountID, filter: filter).totals
    }

    /// A merchant's unread notifications are counted up to this many (every merchant page shows the
    /// count in its header, and one who never opens them would otherwise have every page count all).
    public static let unreadLimit = 100

    /// The count of the account $1's unread notifications up to `unreadLimit`, as one SQL value: the
    /// badge's own statement (`UnreadNotifications`) and the pages' statements that carry it.
    public static let unreadCountSQL = """
        (SELECT count(*) FROM (SELECT 1 FROM notifications WHERE account_id = $1 AND read_at IS NULL LIMIT \(unreadLimit)) unread)::bigint
        """

    /// The totals, and since when they lag the transaction log by more than a second.
    public struct Summary: Sendable, Equatable {
        public let totals: [Total]
        /// The time up to which the kept totals are complete (the oldest event their consumer has
        /// not read yet) when that is more than a second ago; nil when current or summed.
        public let asOf: Date?
    }

    /// The unfiltered history's first page and its totals, in one statement (`NewestPaymentsWithTotals`):
    /// what `page` and `summary` give for no filter and no cursor; and the merchant's unread
    /// notifications counted up to `unreadLimit`, the page header's badge, in the same round trip.
    public func firstPage(accountID: AccountID) async throws -> (Page<ListedPayment>, Summary, unread: Int) {
        var payments: [ListedPayment] = []
        var kept: [(String, String, Int64, Int64, Int64)] = []
        var asOf: Date?
        var unread = 0
        var first = true
        let statement = NewestPaymentsWithTotals(accountID: accountID)
        for try await row in try await database.execute(statement, logger: logger) {
            let cells = row.makeRandomAccess()
            if first {
                first = false
                let at = NewestPaymentsWithTotals.totalsColumn
                // No totals yet: the lag's row alone, whose nulls concat_ws joins into an empty text.
                for total in (try cells[at].decode(String?.self) ?? "").split(separator: ";") {
                    let parts = total.split(separator: " ")
                    guard parts.count == 5, let count = Int64(parts[2]), let net = Int64(parts[3]), let refunded = Int64(parts[4]) else {
                        throw TotalsUnreadable(text: String(total))
                    }
                    kept.append((String(parts[0]), String(parts[1]), count, net, refunded))
                }
                asOf = try cells[at + 1].decode(Date?.self)
                unread = Int(try cells[at + 2].decode(Int64.self))
            }
            // The row of a merchant without payments carries only the totals.
            if try cells[0].decode(String?.self) != nil { payments.append(try ListedPayment(cells: cells)) }
        }
        return (Self.page(payments, limit: Self.pageSize), Summary(totals: Self.totals(kept), asOf: asOf), unread)
    }

    /// A total of `NewestPaymentsWithTotals` that is not `currency status count net refunded`.
    struct TotalsUnreadable: Error, CustomStringConvertible {
        let text: String
        var description: String { "history totals: cannot read '\(text)'" }
    }

    /// `totals` with their lag, in one query (the history page's second and last).
    public func summary(accountID: AccountID, filter: Filter) async throws -> Summary {
        if filter.search == nil, filter.linkID == nil, filter.formID == nil, filter.realm == nil {
            return try await keptSummary(accountID: accountID, filter: filter)
        }
        var sql = """
            SELECT p.currency, p.status, count(*)::bigint,
                   coalesce(sum(p.amount - p.amount_refunded) FILTER (WHERE p.status IN ('succeeded', 'partially_refunded', 'refunded')), 0)::bigint,
                   coalesce(sum(p.amount_refunded), 0)::bigint
            FROM payments p WHERE
            """
        var bindings = PostgresBindings()
        where_(&sql, &bindings, accountID: accountID, filter: filter)
        sql += " GROUP BY p.currency, p.status ORDER BY p.currency, p.status"
        var rows: [(String, String, Int64, Int64, Int64)] = []
        let query = PostgresQuery(unsafeSQL: sql, binds: bindings)
        for try await row in try await database.query(query, logger: logger).decode((String, String, Int64, Int64, Int64).self) { rows.append(row) }
        return Summary(totals: Self.totals(rows), asOf: nil)
    }

    /// One UTC day of one currency, from the kept totals (so its cost does not grow with the
    /// merchant): what the dashboard's charts draw. Payments count on the day they were created.
    public struct DayTotal: Sendable, Equatable {
        /// UTC midnight.
        public let day: Date
        public let currency: Currency
        /// What the payments that took money (succeeded, then perhaps refunded) were for.
        public let gross: Money
        /// What has been refunded of them since.
        public let refunded: Money
        /// How many took money, and how many the issuer declined.
        public let captured: Int
        public let failed: Int

        public init(day: Date, currency: Currency, gross: Money, refunded: Money, captured: Int, failed: Int) {
            self.day = day
            self.currency = currency
            self.gross = gross
            self.refunded = refunded
            self.captured = captured
            self.failed = failed
        }
    }

    /// The days from `from` through `through` (UTC days, inclusive) that have payments, per
    /// currency, oldest first; days without payments are left out.
    public func daily(accountID: AccountID, from: Date, through: Date, realm: String? = nil) async throws -> [DayTotal] {
        // One site's days are summed from its payments (the kept totals have no realm); the
        // realm index keeps that to the site's own 30 days.
        let rows = try await database.query(
            realm.map { realm in
                """
                SELECT (created_at AT TIME ZONE 'UTC')::date AS day, currency,
                       coalesce(sum(amount) FILTER (WHERE status IN ('succeeded', 'partially_refunded', 'refunded')), 0)::bigint,
                       coalesce(sum(amount_refunded), 0)::bigint,
                       (count(*) FILTER (WHERE status IN ('succeeded', 'partially_refunded', 'refunded')))::bigint,
                       (count(*) FILTER (WHERE status = 'failed'))::bigint
                FROM payments
                WHERE account_id = \(accountID) AND realm = \(realm)
                  AND created_at >= \(UTCDay.iso(from))::date AND created_at < \(UTCDay.iso(through))::date + 1
                GROUP BY 1, 2 ORDER BY currency, day
                """
            }
                ?? """
                SELECT day, currency,
                       coalesce(sum(amount) FILTER (WHERE status IN ('succeeded', 'partially_refunded', 'refunded')), 0)::bigint,
                       coalesce(sum(refunded), 0)::bigint,
                       coalesce(sum(count) FILTER (WHERE status IN ('succeeded', 'partially_refunded', 'refunded')), 0)::bigint,
                       coalesce(sum(count) FILTER (WHERE status = 'failed'), 0)::bigint
                FROM payment_totals
                WHERE account_id = \(accountID) AND day >= \(UTCDay.iso(from))::date AND day <= \(UTCDay.iso(through))::date
                GROUP BY day, currency HAVING sum(count) > 0
                ORDER BY currency, day
                """,
            logger: logger
        )
        var days: [DayTotal] = []
        for try await (day, code, gross, refunded, captured, failed) in rows.decode((Date, String, Int64, Int64, Int64, Int64).self) {
            guard let currency = Currency(code: code) else { continue }
            days.append(
                DayTotal(
                    day: day, currency: currency, gross: Money(minorUnits: gross, currency: currency),
                    refunded: Money(minorUnits: refunded, currency: currency), captured: Int(captured), failed: Int(failed)))
        }
        return days
    }

    /// When the totals `totals` reads lag the transaction log by more than a second: the time up to
    /// which they are complete (the oldest event their consumer has not read yet). Nil when current.
    public func totalsAsOf(filter: Filter) async throws -> Date? {
        guard filter.search == nil, filter.linkID == nil, filter.formID == nil, filter.realm == nil else { return nil }
        let lag = try await EventLog(database: database, logger: logger).lag(of: .totals)
        return lag.seconds > 1 ? lag.waitingSince : nil
    }

    private func keptSummary(accountID: AccountID, filter: Filter) async throws -> Summary {
        let rows: [(String?, String?, Int64?, Int64?, Int64?, Date?)]
        if filter.statuses.isEmpty, filter.from == nil, filter.through == nil {
            rows = try await allRows(database.execute(KeptTotals(key: accountID), logger: logger))
        } else if filter.from == nil, filter.through == nil {
            let statement = KeptTotalsInStatuses(accountID: accountID, statuses: filter.statuses.map(\.rawValue))
            rows = try await allRows(database.execute(statement, logger: logger))
        } else {
            var conditions: [String] = []
            var bindings = PostgresBindings()
            bindings.append(accountID)
            if !filter.statuses.isEmpty {
                bindings.append(filter.statuses.map(\.rawValue))
                conditions.append("status = ANY($\(bindings.count))")
            }
            // The filter's days are UTC midnights (inclusive); the totals are kept per UTC day.
            if let from = filter.from {
                bindings.append(UTCDay.iso(from))
                conditions.append("day >= $\(bindings.count)::date")
            }
            if let through = filter.through {
                bindings.append(UTCDay.iso(through))
                conditions.append("day <= $\(bindings.count)::date")
            }
            let query = PostgresQuery(unsafeSQL: KeptTotals.summarySQL(of: "payment_totals", where: conditions), binds: bindings)
            rows = try await allRows(database.query(query, logger: logger).decode((String?, String?, Int64?, Int64?, Int64?, Date?).self))
        }
        var kept: [(String, String, Int64, Int64, Int64)] = []
        var asOf: Date?
        for (code, status, count, net, refunded, since) in rows {
            asOf = since
            guard let code, let status, let count, let net, let refunded else { continue }
            kept.append((code, status, count, net, refunded))
        }
        return Summary(totals: Self.totals(kept), asOf: asOf)
    }

    /// `kept` (totals per currency) with the totals consumer's lag beside them: one row even when
    /// there are no totals, carrying since when the consumer lags by more than a second.
    static func keptSummarySQL(kept: String) -> String {
        """
        SELECT t.currency, t.status, t.n, t.net, t.refunded, w.since
        FROM (SELECT \(totalsSinceSQL) AS since) w
        LEFT JOIN (\(kept)) t ON true
        ORDER BY t.currency, t.status
        """
    }

    /// Since when the kept totals lag the transaction log, as one SQL value: the oldest event their
    /// consumer has not read, when that is more than a second old (`EventLog.lag`'s rule); null when
    /// they are current.
    static let totalsSinceSQL = """
        (SELECT CASE WHEN clock_timestamp() - next.created_at > interval '1 second' THEN next.created_at END
         FROM event_consumers c
         CROSS JOIN LATERAL (SELECT e.created_at FROM payment_events e WHERE (e.xid, e.seq) > (c.xid, c.seq)
                             ORDER BY e.xid, e.seq LIMIT 1) next
         WHERE c.name = '\(EventLog.Consumer.totals.rawValue)')
        """

    /// Rows per currency and status (currency, status, count, net, refunded), in currency order,
    /// added up per currency.
    static func totals(_ rows: [(String, String, Int64, Int64, Int64)]) -> [Total] {
        var totals: [Total] = []
        for (code, statusText, count, net, refunded) in rows {
            guard let currency = Currency(code: code), let status = PaymentStatus(rawValue: statusText) else { continue }
            if let last = totals.last, last.currency == currency {
                var counts = last.counts
                counts[status, default: 0] += Int(count)
                totals[totals.count - 1] = Total(
                    currency: currency, count: last.count + Int(count), counts: counts,
                    net: Money(minorUnits: last.net.minorUnits + net, currency: currency),
                    refunded: Money(minorUnits: last.refunded.minorUnits + refunded, currency: currency))
            } else {
                totals.append(
                    Total(
                        currency: currency, count: Int(count), counts: [status: Int(count)], net: Money(minorUnits: net, currency: currency),
                        refunded: Money(minorUnits: refunded, currency: currency)))
            }
        }
        return totals
    }

    // MARK: the totals consumer

    /// One pass of the totals consumer, in one statement: reads up to `limit` events past its cursor
    /// in commit order (see `EventLog`), moves each payment they concern from the bucket it was in
    /// before them to the one it is in after them, and moves the cursor. Returns how many events it
    /// read (0 when another process holds the cursor).
    public func consumeTotals(limit: Int = 2000) async throws -> Int {
        try await firstRow(database.execute(TotalsPass(limit: limit), logger: logger)) ?? 0
    }

    /// The realms the account's links and forms name (at most 100, in order): what the history's
    /// realm filter offers.
    public func realms(accountID: AccountID) async throws -> [String] {
        let rows = try await database.query(
            """
            SELECT realm FROM payment_links WHERE account_id = \(accountID) AND realm IS NOT NULL
            UNION SELECT realm FROM payment_forms WHERE account_id = \(accountID) AND realm IS NOT NULL
            ORDER BY 1 LIMIT 100
            """,
            logger: logger
        )
        var realms: [String] = []
        for try await realm in rows.decode(String.self) { realms.append(realm) }
        return realms
    }

    /// An ILIKE pattern matching text that contains `text`, in which \\, % and _ match themselves
    /// (the history's search and the operators' merchant search).
    public static func containsPattern(_ text: String) -> String {
        "%" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
            + "%"
    }

    /// The WHERE clause shared by pages and totals; every value is a bound parameter.
    private func where_(_ sql: inout String, _ bindings: inout PostgresBindings, accountID: AccountID, filter: Filter) {
        bindings.append(accountID)
        sql += " p.account_id = $1"
        if !filter.statuses.isEmpty {
            bindings.append(filter.statuses.map(\.rawValue))
            sql += " AND p.status = ANY($\(bindings.count))"
        }
        if let from = filter.from {
            bindings.append(from)
            sql += " AND p.created_at >= $\(bindings.count)"
        }
        if let through = filter.through {
            bindings.append(through.addingTimeInterval(86400))
            sql += " AND p.created_at < $\(bindings.count)"
        }
        if let linkID = filter.linkID {
            bindings.append(linkID)
            sql += " AND p.payment_link_id = $\(bindings.count)"
        }
        if let formID = filter.formID {
            bindings.append(formID)
            sql += " AND p.payment_form_id = $\(bindings.count)"
        }
        if let realm = filter.realm {
            bindings.append(realm)
            sql += " AND p.realm = $\(bindings.count)"
        }
        if let search = filter.search?.trimmingWhitespace(), !search.isEmpty {
            bindings.append(Self.containsPattern(search))
            let like = bindings.count
            bindings.append(search)
            sql += " AND (p.description ILIKE $\(like) OR p.email ILIKE $\(like) OR p.card_last4 = $\(bindings.count) OR p.id = $\(bindings.count))"
        }
    }
}

/// The totals consumer's pass (see `PaymentHistory.consumeTotals`). Per payment, only its first and
/// last event in the batch matter: the bucket before the first (from the event before it in the
/// log; none before `payment.created`) and the bucket after the last. A payment's events are in
/// commit order by `seq`, since each transition holds the payment's row lock while it appends.
struct TotalsPass: ConsumerPass {
    static let name = "PaymentCore.TotalsPass"
    static let sql = consumerPassSQL(
        consumer: .totals, columns: "e.account_id, e.payment_id, e.type, e.data",
        derive: """
            ends AS (
                SELECT b.account_id, b.payment_id,
                       (array_agg(b.seq ORDER BY b.seq))[1] AS first_seq,
                       (array_agg(b.type ORDER BY b.seq))[1] AS first_type,
                       (array_agg(b.data ORDER BY b.seq DESC))[1] AS last_data
                FROM batch b WHERE b.payment_id IS NOT NULL
                GROUP BY b.account_id, b.payment_id
            ), changes AS (
                SELECT n.account_id, (p.created_at AT TIME ZONE 'UTC')::date AS day, p.currency,
                       -- An authorization counts what was authorized (its event's amount): a capture of
                       -- less changes the payment's amount, and both sides of the move must agree.
                       CASE WHEN before.data->>'status' = 'authorized' THEN coalesce((before.data->>'amount')::bigint, p.amount) ELSE p.amount END
                           AS old_amount,
                       CASE WHEN n.last_data->>'status' = 'authorized' THEN coalesce((n.last_data->>'amount')::bigint, p.amount) ELSE p.amount END
                           AS new_amount,
                       before.data->>'status' AS old_status, coalesce((before.data->>'amount_refunded')::bigint, 0) AS old_refunded,
                       n.last_data->>'status' AS new_status, coalesce((n.last_data->>'amount_refunded')::bigint, 0) AS new_refunded
                FROM ends n
                JOIN LATERAL (SELECT created_at, currency, amount FROM payments WHERE account_id = n.account_id AND id = n.payment_id) p ON true
                LEFT JOIN LATERAL (
                    SELECT e.data FROM payment_events e
                    WHERE n.first_type <> 'payment.created' AND e.account_id = n.account_id AND e.payment_id = n.payment_id AND e.seq < n.first_seq
                    ORDER BY e.seq DESC LIMIT 1
                ) before ON true
            ), deltas AS (
                SELECT account_id, day, currency, old_status AS status, -1 AS count, -old_amount AS amount, -old_refunded AS refunded
                FROM changes WHERE old_status IS NOT NULL
                UNION ALL
                SELECT account_id, day, currency, new_status, 1, new_amount, new_refunded FROM changes WHERE new_status IS NOT NULL
            ), applied AS (
                INSERT INTO payment_totals AS t (account_id, day, currency, status, count, amount, refunded)
                SELECT account_id, day, currency, status, sum(count), sum(amount), sum(refunded) FROM deltas
                GROUP BY account_id, day, currency, status
                ON CONFLICT (account_id, day, currency, status) DO UPDATE
                    SET count = t.count + excluded.count, amount = t.amount + excluded.amount, refunded = t.refunded + excluded.refunded
            )
            """
    )
    let limit: Int
}

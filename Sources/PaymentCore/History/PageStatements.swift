import Foundation
import PostgresNIO

// The reads behind the pages merchants open most (the history's first pages, its totals, the
// dashboard), as prepared statements, like the checkout's (`HotStatements.swift`): run unnamed,
// PostgreSQL parsed, analysed and planned them anew on every view, which was about half of its CPU
// on the history page (perf, issue 16). A filtered view builds its SQL and runs it unnamed.

/// The merchant's newest payments, one more than a page holds (to know whether another follows),
/// whole or as the lists show them (`HistoryRow`). The LIMIT is written into the SQL: a bound LIMIT
/// made PostgreSQL plan every execution anew (its generic plan assumed a tenth of the merchant's
/// payments).
protocol NewestPaymentsStatement: PostgresPreparedStatement where Row: HistoryRow {
    static var pageSize: Int { get }
    var accountID: AccountID { get }
}

extension NewestPaymentsStatement {
    static var sql: String {
        "SELECT \(Row.columns) FROM payments p WHERE p.account_id = $1 ORDER BY p.created_at DESC, p.id DESC LIMIT \(pageSize + 1)"
    }
    static var bindingDataTypes: [PostgresDataType] { [.text] }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(accountID)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try Row(row: row) }
}

/// The history's first page without a filter.
struct NewestPayments<Row: HistoryRow>: NewestPaymentsStatement {
    static var name: String { "PaymentCore.NewestPayments<" + Row.typeName + ">" }
    static var pageSize: Int { PaymentHistory.pageSize }
    var accountID: AccountID
}

/// The dashboard's recent payments.
struct RecentPayments<Row: HistoryRow>: NewestPaymentsStatement {
    static var name: String { "PaymentCore.RecentPayments<" + Row.typeName + ">" }
    static var pageSize: Int { PaymentHistory.recentSize }
    var accountID: AccountID
}

/// The next page of the unfiltered history: the payments older than `after` (keyset).
struct NewestPaymentsAfter<Row: HistoryRow>: PostgresPreparedStatement {
    static var name: String { "PaymentCore.NewestPaymentsAfter<" + Row.typeName + ">" }
    static var sql: String {
        """
        SELECT \(Row.columns) FROM payments p WHERE p.account_id = $1
          AND (p.created_at, p.id) < (SELECT created_at, id FROM payments WHERE account_id = $1 AND id = $2)
        ORDER BY p.created_at DESC, p.id DESC LIMIT \(PaymentHistory.pageSize + 1)
        """
    }
    static var bindingDataTypes: [PostgresDataType] { [.text, .text] }
    var accountID: AccountID
    var after: String

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(accountID)
        bindings.append(after)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> Row { try Row(row: row) }
}

/// The unfiltered history's totals per currency from the all-time kept totals (one row per
/// currency and status, migration 0030), with their consumer's lag
/// (`PaymentHistory.summary`; the filtered form is built there).
struct KeptTotals: KeyedStatement {
    static let name = "PaymentCore.KeptTotals"
    static let sql = summarySQL(of: "payment_totals_all")

    /// The totals per currency and status of the account $1 kept in `table` (all-time, or per UTC
    /// day), of the rows every one of `conditions` keeps, with their consumer's lag.
    static func summarySQL(of table: String, where conditions: [String] = []) -> String {
        PaymentHistory.keptSummarySQL(
            kept: """
                SELECT currency, status, sum(count)::bigint AS n, coalesce(sum(\(netSQL)), 0)::bigint AS net,
                       coalesce(sum(refunded), 0)::bigint AS refunded
                FROM \(table) WHERE \((["account_id = $1"] + conditions).joined(separator: " AND ")) GROUP BY currency, status HAVING sum(count) > 0
                """)
    }
    var key: AccountID

    /// What a kept row of totals (amount, refunded, status) adds to the net: what its payments
    /// kept of what they took, nothing for the statuses that took no money.
    static let netSQL = "CASE WHEN status IN ('succeeded', 'partially_refunded', 'refunded') THEN amount - refunded ELSE 0 END"

    func decodeRow(_ row: PostgresRow) throws -> (String?, String?, Int64?, Int64?, Int64?, Date?) { try Self.decode(row) }

    /// A row of `summarySQL`: currency, status, count, net, refunded (null when there are no totals), lag.
    static func decode(_ row: PostgresRow) throws -> (String?, String?, Int64?, Int64?, Int64?, Date?) {
        try row.decode((String?, String?, Int64?, Int64?, Int64?, Date?).self)
    }
}

/// The unfiltered history's first page with its totals (`PaymentHistory.firstPage`): one round trip
/// instead of two, each of which cost Kassa and PostgreSQL more than the reading it did. Every row
/// carries the totals per currency and status as one text (`EUR succeeded 12 30000 0;…`, in
/// currency and status order: one sort, where an array per figure took five), and the totals
/// consumer's lag (`KeptTotals`); a merchant without payments gets one row, its payment columns null.
/// The totals are `KeptTotals`' figures read straight from the all-time table, whose key is the
/// account, currency and status (so nothing to group; `EventLogTests` holds the two equal): its
/// grouping and joins were a third of the statement's cost at a million payments (`pgbench`).
/// The row also carries the merchant's unread notifications up to `PaymentHistory.unreadLimit`, the
/// header's badge, which every other page asks for in a statement of its own
/// (`NotificationBadgeMiddleware`); the limit is written into the SQL, as the page's is.
struct NewestPaymentsWithTotals: PostgresPreparedStatement {
    static let name = "PaymentCore.NewestPaymentsWithTotals"
    /// Where the totals start: after the payment's columns (then their lag, then the unread count).
    static let totalsColumn = ListedPayment.columnCount
    static let sql = """
        SELECT p.*, t.totals, t.since, t.unread
        FROM (
            SELECT (SELECT string_agg(concat_ws(' ', currency, status, count, \(KeptTotals.netSQL), refunded), ';' ORDER BY currency, status)
                    FROM payment_totals_all WHERE account_id = $1 AND count > 0) AS totals,
                   \(PaymentHistory.totalsSinceSQL) AS since,
                   \(PaymentHistory.unreadCountSQL) AS unread
        ) t
        LEFT JOIN LATERAL (\(NewestPayments<ListedPayment>.sql)) p ON true
        ORDER BY p.created_at DESC, p.id DESC
        """
    static var bindingDataTypes: [PostgresDataType] { [.text] }
    var accountID: AccountID

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(accountID)
        return bindings
    }

    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// The dashboard's figures, read within `DashboardOverview` (`Payments.dashboard`).
enum AccountOverview {
    static let sql = """
        SELECT coalesce((SELECT array_agg(currency ORDER BY currency) FROM ledger_balances WHERE account_id = $1), '{}') AS overview_codes,
               coalesce((SELECT array_agg(balance ORDER BY currency) FROM ledger_balances WHERE account_id = $1), '{}') AS overview_balances,
               max(w.created_at) FILTER (WHERE c.name = '\(EventLog.Consumer.ledger.rawValue)' AND clock_timestamp() - w.created_at > interval '1 second') AS overview_ledger_since,
               max(w.created_at) FILTER (WHERE c.name = '\(EventLog.Consumer.totals.rawValue)' AND clock_timestamp() - w.created_at > interval '1 second') AS overview_totals_since,
               EXISTS (SELECT 1 FROM payment_methods WHERE account_id = $1) AS overview_has_methods
        FROM event_consumers c
        LEFT JOIN LATERAL (
            SELECT e.created_at FROM payment_events e WHERE (e.xid, e.seq) > (c.xid, c.seq) ORDER BY e.xid, e.seq LIMIT 1
        ) w ON true
        WHERE c.name IN ('\(EventLog.Consumer.ledger.rawValue)', '\(EventLog.Consumer.totals.rawValue)')
        """
}

/// The dashboard's figures (`AccountOverview`), the merchant's unread notifications up to
/// `PaymentHistory.unreadLimit` (the header's badge) and its links running out within $2 seconds
/// (`LinksExpiringSoon`), in one statement (`Payments.dashboard`): a row per link, soonest first,
/// each carrying the figures; one row with the link's columns null when none runs out.
struct DashboardOverview: AccountWithinStatement {
    static let name = "PaymentCore.DashboardOverview"
    static let sql = """
        SELECT l.*, o.*, \(PaymentHistory.unreadCountSQL) AS overview_unread
        FROM (\(AccountOverview.sql)) o
        LEFT JOIN LATERAL (\(LinksExpiringSoon.sql)) l ON true
        ORDER BY l.expires_at
        """
    var accountID: AccountID
    var seconds: Double

    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// The dashboard in one round trip when the payments are read from the primary (no replica):
/// the merchant's newest payments (`RecentPayments`, their columns first; one row with them null for
/// a merchant without payments), each row carrying the figures (`AccountOverview`), the header's
/// badge and whether any link runs out within $2 seconds. The links themselves are read only then
/// (`ExpiringLinks`): most merchants have none running out, and a row per link and payment would
/// multiply the two lists.
struct DashboardWithRecent: AccountWithinStatement {
    static let name = "PaymentCore.DashboardWithRecent"
    static let sql = """
        SELECT p.*, o.*, \(PaymentHistory.unreadCountSQL) AS overview_unread,
               EXISTS (\(LinksExpiringSoon.sql)) AS overview_links_expiring
        FROM (\(AccountOverview.sql)) o
        LEFT JOIN LATERAL (\(RecentPayments<ListedPayment>.sql)) p ON true
        ORDER BY p.created_at DESC, p.id DESC
        """
    var accountID: AccountID
    var seconds: Double

    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// The links that run out within $2 seconds, soonest first (`LinksExpiringSoon`), on their own.
struct ExpiringLinks: AccountWithinStatement {
    static let name = "PaymentCore.ExpiringLinks"
    static let sql = LinksExpiringSoon.sql
    var accountID: AccountID
    var seconds: Double

    func decodeRow(_ row: PostgresRow) throws -> PaymentLink { try PaymentLink(row: row) }
}

/// Live links that run out within $2 seconds, soonest first (the dashboard shows five), read within
/// `DashboardOverview`, or by `ExpiringLinks` when `DashboardWithRecent` says there are some.
enum LinksExpiringSoon {
    static let limit = 5
    static let sql = """
        SELECT \(PaymentLink.columns) FROM payment_links
        WHERE account_id = $1 AND revoked_at IS NULL AND uses < max_uses
          AND expires_at > now() AND expires_at <= now() + make_interval(secs => $2)
        ORDER BY expires_at LIMIT \(limit)
        """
}

/// A statement of the account ($1) and a number of seconds from now ($2): the dashboard's.
protocol AccountWithinStatement: PostgresPreparedStatement {
    var accountID: AccountID { get }
    var seconds: Double { get }
}

extension AccountWithinStatement {
    static var bindingDataTypes: [PostgresDataType] { [.text, .float8] }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(accountID)
        bindings.append(seconds)
        return bindings
    }
}

// A payment's page (and `GET /v1/payments/{id}`): the payment, its transaction log and its refunds,
// each by account ($1) and payment id ($2). Sent unnamed, PostgreSQL planned each anew per view, the
// log's over every one of its partitions: 1.7 ms of PostgreSQL per payment page at a million
// payments (`make bench`, 2026-12-03).

/// A payment by its id.
struct PaymentByID: AccountKeyedStatement {
    static let name = "PaymentCore.PaymentByID"
    static let sql = "SELECT \(Payment.columns) FROM payments WHERE account_id = $1 AND id = $2"
    var accountID: AccountID
    var key: String

    func decodeRow(_ row: PostgresRow) throws -> Payment { try Payment(row: row) }
}

/// A payment's transaction log, oldest first.
struct EventsOfPayment: AccountKeyedStatement {
    static let name = "PaymentCore.EventsOfPayment"
    static let sql = """
        SELECT id, payment_id, type, data::text, created_at FROM payment_events
        WHERE account_id = $1 AND payment_id = $2 ORDER BY seq
        """
    var accountID: AccountID
    var key: String

    func decodeRow(_ row: PostgresRow) throws -> PaymentEvent {
        let (id, payment, type, data, created) = try row.decode((String, PaymentID, String, String, Date).self)
        return PaymentEvent(id: id, paymentID: payment, type: try EventType.stored(type), data: data, createdAt: created)
    }
}

/// A payment's refunds, oldest first.
struct RefundsOfPayment: AccountKeyedStatement {
    static let name = "PaymentCore.RefundsOfPayment"
    static let sql = """
        SELECT id, payment_id, amount, currency, reason, status, created_at FROM refunds
        WHERE account_id = $1 AND payment_id = $2 ORDER BY created_at, id
        """
    var accountID: AccountID
    var key: String

    func decodeRow(_ row: PostgresRow) throws -> Refund {
        let (id, payment, amount, code, reason, status, created) = try row.decode((String, PaymentID, Int64, String, String?, String, Date).self)
        // Both are CHECKed in the table; a row this code cannot read is refused, not hidden.
        guard let currency = Currency(code: code), let status = RefundStatus(rawValue: status) else { throw PaymentError.notFound }
        return Refund(
            id: id, paymentID: payment, amount: Money(minorUnits: amount, currency: currency), reason: reason, status: status, createdAt: created)
    }
}

// The history filtered by statuses alone, its most used filter ("failed", "refunded"): prepared,
// where the filtered views' built SQL was planned anew per view (4.2 ms of PostgreSQL per view at a
// million payments, `make bench` 2026-12-03), and its totals from the all-time kept totals, a row
// per currency and status, instead of summing the day totals.

/// A statement of the account ($1) and a list of payment statuses ($2).
protocol AccountStatusesStatement: PostgresPreparedStatement {
    var accountID: AccountID { get }
    var statuses: [String] { get }
}

extension AccountStatusesStatement {
    static var bindingDataTypes: [PostgresDataType] { [.text, .textArray] }

    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(accountID)
        bindings.append(statuses)
        return bindings
    }
}

/// The first page of the payments in any of $2's statuses, newest first.
struct PaymentsInStatuses<Row: HistoryRow>: AccountStatusesStatement {
    static var name: String { "PaymentCore.PaymentsInStatuses<" + Row.typeName + ">" }
    static var sql: String {
        """
        SELECT \(Row.columns) FROM payments p WHERE p.account_id = $1 AND p.status = ANY($2)
        ORDER BY p.created_at DESC, p.id DESC LIMIT \(PaymentHistory.pageSize + 1)
        """
    }
    var accountID: AccountID
    var statuses: [String]

    func decodeRow(_ row: PostgresRow) throws -> Row { try Row(row: row) }
}

/// `KeptTotals` of the payments in any of $2's statuses.
struct KeptTotalsInStatuses: AccountStatusesStatement {
    static let name = "PaymentCore.KeptTotalsInStatuses"
    static let sql = KeptTotals.summarySQL(of: "payment_totals_all", where: ["status = ANY($2)"])
    var accountID: AccountID
    var statuses: [String]

    func decodeRow(_ row: PostgresRow) throws -> (String?, String?, Int64?, Int64?, Int64?, Date?) { try KeptTotals.decode(row) }
}

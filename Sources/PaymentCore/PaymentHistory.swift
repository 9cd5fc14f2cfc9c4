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
        public var linkID: String?
        public var formID: String?

        public init(
            statuses: [PaymentStatus] = [], from: Date? = nil, through: Date? = nil, search: String? = nil, linkID: String? = nil, formID: String? = nil
        ) {
            self.statuses = statuses
            self.from = from
            self.through = through
            self.search = search
            self.linkID = linkID
            self.formID = formID
        }
    }

    public struct Page: Sendable {
        public let payments: [Payment]
        /// Pass as `after` for the next page; nil on the last page.
        public let nextCursor: String?
    }

    public struct Total: Sendable, Equatable {
        public let currency: Currency
        public let count: Int
        /// Captured minus refunded, over the payments that took money.
        public let net: Money
        public let refunded: Money
    }

    /// Newest first. `after` is the id of the last payment of the previous page; keyset
    /// pagination, so payments arriving meanwhile never shift or repeat a page.
    public func page(accountID: String, filter: Filter, after: String? = nil, limit: Int = 25) async throws -> Page {
        var sql = "SELECT \(Payment.columns) FROM payments p WHERE "
        var bindings = PostgresBindings()
        where_(&sql, &bindings, accountID: accountID, filter: filter)
        if let after {
            bindings.append(after)
            sql += " AND (p.created_at, p.id) < (SELECT created_at, id FROM payments WHERE account_id = $1 AND id = $\(bindings.count))"
        }
        bindings.append(limit + 1)
        sql += " ORDER BY p.created_at DESC, p.id DESC LIMIT $\(bindings.count)"
        let rows = try await database.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        var payments: [Payment] = []
        for try await row in rows { payments.append(try Payment(row: row)) }
        let more = payments.count > limit
        if more { payments.removeLast() }
        return Page(payments: payments, nextCursor: more ? payments.last?.id : nil)
    }

    /// Every matching payment, newest first, in batches (for the CSV export).
    public func each(accountID: String, filter: Filter, batch: Int = 500, _ body: ([Payment]) async throws -> Void) async throws {
        var cursor: String? = nil
        repeat {
            let page = try await page(accountID: accountID, filter: filter, after: cursor, limit: batch)
            if !page.payments.isEmpty { try await body(page.payments) }
            cursor = page.nextCursor
        } while cursor != nil
    }

    public func totals(accountID: String, filter: Filter) async throws -> [Total] {
        var sql = """
            SELECT p.currency, count(*)::bigint,
                   coalesce(sum(p.amount - p.amount_refunded) FILTER (WHERE p.status IN ('succeeded', 'partially_refunded', 'refunded')), 0)::bigint,
                   coalesce(sum(p.amount_refunded), 0)::bigint
            FROM payments p WHERE
            """
        var bindings = PostgresBindings()
        where_(&sql, &bindings, accountID: accountID, filter: filter)
        sql += " GROUP BY p.currency ORDER BY p.currency"
        let rows = try await database.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        var totals: [Total] = []
        for try await (code, count, net, refunded) in rows.decode((String, Int64, Int64, Int64).self) {
            guard let currency = Currency(code: code) else { continue }
            totals.append(
                Total(currency: currency, count: Int(count), net: Money(minorUnits: net, currency: currency), refunded: Money(minorUnits: refunded, currency: currency))
            )
        }
        return totals
    }

    /// The WHERE clause shared by pages and totals; every value is a bound parameter.
    private func where_(_ sql: inout String, _ bindings: inout PostgresBindings, accountID: String, filter: Filter) {
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
        if let search = filter.search?.trimmingWhitespace(), !search.isEmpty {
            let escaped = search.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
            bindings.append("%" + escaped + "%")
            let like = bindings.count
            bindings.append(search)
            sql += " AND (p.description ILIKE $\(like) OR p.email ILIKE $\(like) OR p.card_last4 = $\(bindings.count) OR p.id = $\(bindings.count))"
        }
    }
}

import Foundation
import Logging
import PostgresNIO

/// A closed UTC day of a merchant's money in one currency: what it captured, refunded and paid in
/// fees, and what it is owed. Made from the ledger, so from the event log.
public struct Settlement: Sendable, Equatable, Identifiable {
    public enum Status: String, Sendable, Equatable, CaseIterable {
        case pending, paid

        public var label: String { self == .pending ? "Pending" : "Paid" }
    }

    public let id: String
    public let accountID: AccountID
    /// The UTC day it closes (midnight UTC).
    public let day: Date
    public let gross: Money
    public let refunds: Money
    public let fees: Money
    public let net: Money
    /// Payments captured that day.
    public let paymentCount: Int
    public let status: Status
    public let createdAt: Date
    public let paidAt: Date?
    /// The site it settles, for a merchant who splits settlements by realm.
    public let realm: String?

    static let columns = """
        id, account_id, currency, day::timestamp AT TIME ZONE 'UTC' AS day, gross, refunds, fees, net, payment_count, status, created_at, paid_at,
        realm
        """

    /// For code outside the core that reads settlements (webhook payloads): the columns and the decoder.
    public static var selectColumns: String { columns }
    public static func decode(_ row: PostgresRow) throws -> Settlement { try Settlement(row: row) }

    init(row: PostgresRow) throws {
        let row = row.makeRandomAccess()
        guard let currency = Currency(code: try row["currency"].decode(String.self)),
            let status = Status(rawValue: try row["status"].decode(String.self))
        else { throw PaymentError.notFound }
        self.id = try row["id"].decode(String.self)
        self.accountID = try row["account_id"].decode(AccountID.self)
        self.day = try row["day"].decode(Date.self)
        self.gross = Money(minorUnits: try row["gross"].decode(Int64.self), currency: currency)
        self.refunds = Money(minorUnits: try row["refunds"].decode(Int64.self), currency: currency)
        self.fees = Money(minorUnits: try row["fees"].decode(Int64.self), currency: currency)
        self.net = Money(minorUnits: try row["net"].decode(Int64.self), currency: currency)
        self.paymentCount = try row["payment_count"].decode(Int.self)
        self.status = status
        self.createdAt = try row["created_at"].decode(Date.self)
        self.paidAt = try row["paid_at"].decode(Date?.self)
        self.realm = try row["realm"].decode(String?.self)
    }
}

/// Settlements: a worker closes every UTC day once the ledger holds all of it, one settlement per
/// merchant and currency, then pays them out (simulated) and logs `settlement.paid`. Closing again
/// changes nothing: a watermark says which days are closed, and the database keeps each transfer in
/// one settlement and each payment's capture in one.
public struct Settlements: Sendable {
    let database: PostgresClient
    let logger: Logger
    /// Where the settlement lists are read (`ReplicaReads`); the primary when nil.
    let reads: ReplicaReads?

    public init(database: PostgresClient, reads: ReplicaReads? = nil, logger: Logger) {
        self.database = database
        self.reads = reads
        self.logger = logger
    }

    /// How long after a day ends it waits, for the transactions that began in it to commit.
    public static let margin: TimeInterval = 300

    /// The line before which every transfer may be settled: the last UTC midnight that is `margin`
    /// behind both now and the oldest event the ledger has not read.
    public func horizon(now: Date = Date()) async throws -> Date {
        let lag = try await EventLog(database: database, logger: logger).lag(of: .ledger)
        let complete = min(now, lag.waitingSince ?? now).addingTimeInterval(-Self.margin)
        return UTCDay.start(of: complete)
    }

    /// Closes the days before `until` (a UTC midnight; by default the horizon) not closed yet.
    /// Returns how many settlements it made.
    @discardableResult
    public func close(until: Date? = nil) async throws -> Int {
        let cutoff: Date
        if let until { cutoff = until } else { cutoff = try await horizon() }
        return try await database.transaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                WITH mark AS (
                    SELECT closed_until FROM settlement_watermark FOR UPDATE
                ), open AS (
                    SELECT t.account_id, t.event_id, t.created_at, t.payment_id, t.currency, t.amount, (t.created_at AT TIME ZONE 'UTC')::date AS day,
                           CASE WHEN t.debit = 'payer_funds' THEN 'capture' ELSE 'refund' END AS kind,
                           CASE WHEN a.settle_by_realm THEN p.realm END AS realm
                    FROM ledger_transfers t
                    CROSS JOIN mark
                    JOIN accounts a ON a.id = t.account_id
                    LEFT JOIN LATERAL (SELECT realm FROM payments WHERE account_id = t.account_id AND id = t.payment_id) p ON a.settle_by_realm
                    WHERE t.created_at >= mark.closed_until AND t.created_at < \(cutoff)
                ), days AS (
                    SELECT o.account_id, o.currency, o.day, o.realm,
                           coalesce(sum(o.amount) FILTER (WHERE o.kind = 'capture'), 0)::bigint AS gross,
                           coalesce(sum(o.amount) FILTER (WHERE o.kind = 'refund'), 0)::bigint AS refunds,
                           coalesce(sum(round(o.amount * a.fee_basis_points / 10000.0)::bigint + a.fee_fixed_minor)
                                    FILTER (WHERE o.kind = 'capture'), 0)::bigint AS fees,
                           (count(*) FILTER (WHERE o.kind = 'capture'))::integer AS captures
                    FROM open o JOIN accounts a ON a.id = o.account_id
                    GROUP BY o.account_id, o.currency, o.day, o.realm
                ), made AS (
                    INSERT INTO settlements (account_id, id, currency, day, gross, refunds, fees, net, payment_count, realm)
                    SELECT d.account_id, 'stl_' || substr(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 1, 24),
                           d.currency, d.day, d.gross, d.refunds, d.fees, d.gross - d.refunds - d.fees, d.captures, d.realm
                    FROM days d
                    RETURNING account_id, id, currency, day, realm
                ), items AS (
                    INSERT INTO settlement_items (account_id, settlement_id, event_id, transfer_created_at, payment_id, kind, amount)
                    SELECT o.account_id, m.id, o.event_id, o.created_at, o.payment_id, o.kind, o.amount
                    FROM open o JOIN made m ON m.account_id = o.account_id AND m.currency = o.currency AND m.day = o.day
                                           AND m.realm IS NOT DISTINCT FROM o.realm
                ), moved AS (
                    UPDATE settlement_watermark SET closed_until = \(cutoff) WHERE closed_until < \(cutoff)
                )
                SELECT count(*)::bigint FROM made
                """,
                logger: logger
            )
            var made: Int64 = 0
            for try await count in rows.decode(Int64.self) { made = count }
            return Int(made)
        }
    }

    /// Pays out (simulated) the pending settlements made before `before`: each becomes `paid` and
    /// logs `settlement.paid` in the same transaction. Returns how many.
    @discardableResult
    public func payOut(before: Date = Date(), limit: Int = 1000) async throws -> Int {
        try await database.transaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                WITH due AS (
                    SELECT account_id, id FROM settlements WHERE status = 'pending' AND created_at < \(before)
                    ORDER BY created_at, account_id, id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                ), paid AS (
                    UPDATE settlements s SET status = 'paid', paid_at = now() FROM due
                    WHERE s.account_id = due.account_id AND s.id = due.id
                    RETURNING s.account_id, s.id, s.currency, s.net, s.day
                ), logged AS (
                    INSERT INTO payment_events (account_id, id, settlement_id, type, data)
                    SELECT p.account_id, 'evt_' || substr(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 1, 24), p.id,
                           'settlement.paid',
                           jsonb_build_object('settlement', p.id, 'amount', p.net, 'currency', p.currency, 'day', p.day::text, 'status', 'paid')
                    FROM paid p ORDER BY p.day, p.account_id, p.id
                )
                SELECT count(*)::bigint FROM paid
                """,
                logger: logger
            )
            var paid: Int64 = 0
            for try await count in rows.decode(Int64.self) { paid = count }
            return Int(paid)
        }
    }

    /// One worker pass: close what can be closed, then pay out what was made before this pass.
    public func pass() async throws -> Int {
        let started = Date()
        let made = try await close()
        return made + (try await payOut(before: started))
    }

    /// How the account's days settle: fees (basis points of each captured payment, plus a fixed
    /// amount in the currency's minor units per captured payment) and whether each realm (site)
    /// settles apart. One read of the account row.
    public func terms(accountID: AccountID) async throws -> (basisPoints: Int, fixedMinor: Int64, splitByRealm: Bool) {
        let rows = try await database.query(
            "SELECT fee_basis_points, fee_fixed_minor, settle_by_realm FROM accounts WHERE id = \(accountID)", logger: logger)
        for try await (points, fixed, split) in rows.decode((Int, Int64, Bool).self) { return (points, fixed, split) }
        return (0, 0, false)
    }

    public func setSplitByRealm(accountID: AccountID, _ split: Bool) async throws {
        try await database.query("UPDATE accounts SET settle_by_realm = \(split) WHERE id = \(accountID)", logger: logger)
    }

    /// Days closed from now on take these fees; closed days keep theirs.
    public func setFees(accountID: AccountID, basisPoints: Int, fixedMinor: Int64) async throws {
        try await database.query(
            "UPDATE accounts SET fee_basis_points = \(basisPoints), fee_fixed_minor = \(fixedMinor) WHERE id = \(accountID)", logger: logger)
    }

    public func list(accountID: AccountID, before: String? = nil, limit: Int = 50) async throws -> (settlements: [Settlement], hasMore: Bool) {
        guard let reads else { return try await list(on: database, accountID: accountID, before: before, limit: limit) }
        return try await reads.read(accountID) { try await self.list(on: $0, accountID: accountID, before: before, limit: limit) }
    }

    private func list(
        on database: PostgresClient, accountID: AccountID, before: String?, limit: Int
    ) async throws -> (
        settlements: [Settlement], hasMore: Bool
    ) {
        let rows = try await database.query(
            """
            SELECT \(unescaped: Settlement.columns) FROM settlements
            WHERE account_id = \(accountID)
              AND (\(before)::text IS NULL OR (day, currency, id) < (SELECT day, currency, id FROM settlements WHERE account_id = \(accountID) AND id = \(before)))
            ORDER BY day DESC, currency DESC, id DESC LIMIT \(limit + 1)
            """,
            logger: logger
        )
        var found: [Settlement] = []
        for try await row in rows { found.append(try Settlement(row: row)) }
        let more = found.count > limit
        if more { found.removeLast() }
        return (found, more)
    }

    public func find(accountID: AccountID, id: String) async throws -> Settlement? {
        let rows = try await database.query(
            "SELECT \(unescaped: Settlement.columns) FROM settlements WHERE account_id = \(accountID) AND id = \(id)", logger: logger)
        for try await row in rows { return try Settlement(row: row) }
        return nil
    }

    /// A settlement's payments with what each moved in it: the capture, or a refund (negative).
    public struct Item: Sendable, Equatable {
        public let payment: Payment
        public let kind: String
        public let amount: Money
    }

    public func items(accountID: AccountID, settlementID: String) async throws -> [Item] {
        let rows = try await database.query(
            """
            SELECT p.*, i.kind, i.amount AS item_amount
            FROM settlement_items i
            JOIN LATERAL (SELECT \(unescaped: Payment.columns) FROM payments WHERE account_id = i.account_id AND id = i.payment_id) p ON true
            WHERE i.account_id = \(accountID) AND i.settlement_id = \(settlementID)
            ORDER BY p.created_at, p.id, i.kind
            """,
            logger: logger
        )
        var items: [Item] = []
        for try await row in rows {
            let payment = try Payment(row: row)
            let random = row.makeRandomAccess()
            let kind = try random["kind"].decode(String.self)
            let amount = try random["item_amount"].decode(Int64.self)
            items.append(
                Item(payment: payment, kind: kind, amount: Money(minorUnits: kind == "refund" ? -amount : amount, currency: payment.amount.currency)))
        }
        return items
    }

    /// What does not add up, in words; empty when every closed day reconciles: net = gross −
    /// refunds − fees, gross and refunds equal the ledger's transfers of that day, account and
    /// currency, every transfer before the watermark is in exactly one settlement, and no payment's
    /// capture is in two.
    public func discrepancies(accountID: AccountID? = nil) async throws -> [String] {
        let rows = try await database.query(
            """
            WITH mark AS (SELECT closed_until FROM settlement_watermark),
            ledger AS (
                SELECT t.account_id, t.currency, (t.created_at AT TIME ZONE 'UTC')::date AS day,
                       coalesce(sum(t.amount) FILTER (WHERE t.debit = 'payer_funds'), 0)::bigint AS gross,
                       coalesce(sum(t.amount) FILTER (WHERE t.debit = 'merchant_balance'), 0)::bigint AS refunds
                FROM ledger_transfers t, mark WHERE t.created_at < mark.closed_until AND (\(accountID)::text IS NULL OR t.account_id = \(accountID))
                GROUP BY 1, 2, 3
                UNION ALL  -- an archived month's days, by their sums (migration 0029)
                SELECT account_id, currency, day, gross, refunds FROM ledger_archive
                WHERE \(accountID)::text IS NULL OR account_id = \(accountID)
            ), settled AS (
                SELECT account_id, currency, day, gross, refunds, fees, net, id FROM settlements
                WHERE \(accountID)::text IS NULL OR account_id = \(accountID)
            ), settled_days AS (  -- a day split by realm is checked whole against the ledger
                SELECT account_id, currency, day, sum(gross)::bigint AS gross, sum(refunds)::bigint AS refunds, string_agg(id, ',' ORDER BY id) AS id
                FROM settled GROUP BY account_id, currency, day
            )
            SELECT 'settlement ' || s.id || ': net ' || s.net || ' is not gross − refunds − fees' FROM settled s WHERE s.net <> s.gross - s.refunds - s.fees
            UNION ALL
            SELECT coalesce('settlement ' || s.id, 'no settlement') || ' for ' || coalesce(l.account_id, s.account_id) || ' ' ||
                   coalesce(l.currency, s.currency) || ' ' || coalesce(l.day, s.day)::text || ': ledger ' || coalesce(l.gross, 0) || '/' ||
                   coalesce(l.refunds, 0) || ', settled ' || coalesce(s.gross, 0) || '/' || coalesce(s.refunds, 0)
            FROM ledger l FULL JOIN settled_days s ON s.account_id = l.account_id AND s.currency = l.currency AND s.day = l.day
            WHERE coalesce(l.gross, 0) <> coalesce(s.gross, 0) OR coalesce(l.refunds, 0) <> coalesce(s.refunds, 0)
            UNION ALL
            SELECT 'transfer ' || t.event_id || ' is in no settlement'
            FROM ledger_transfers t, mark
            WHERE t.created_at < mark.closed_until AND (\(accountID)::text IS NULL OR t.account_id = \(accountID))
              AND NOT EXISTS (SELECT 1 FROM settlement_items i WHERE i.account_id = t.account_id AND i.event_id = t.event_id)
            UNION ALL
            SELECT 'settlement ' || s.id || ': items ' || coalesce(sum(i.amount) FILTER (WHERE i.kind = 'capture'), 0) || '/' ||
                   coalesce(sum(i.amount) FILTER (WHERE i.kind = 'refund'), 0) || ' against ' || s.gross || '/' || s.refunds
            FROM settled s
            LEFT JOIN (SELECT account_id, settlement_id, kind, amount FROM settlement_items
                       UNION ALL SELECT account_id, settlement_id, kind, amount FROM settlement_items_archive) i
                   ON i.account_id = s.account_id AND i.settlement_id = s.id
            GROUP BY s.id, s.gross, s.refunds
            HAVING coalesce(sum(i.amount) FILTER (WHERE i.kind = 'capture'), 0) <> s.gross
                OR coalesce(sum(i.amount) FILTER (WHERE i.kind = 'refund'), 0) <> s.refunds
            """,
            logger: logger
        )
        var found: [String] = []
        for try await line in rows.decode(String.self) { found.append(line) }
        return found
    }
}

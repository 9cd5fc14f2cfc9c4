import Foundation
import Logging
import PostgresNIO

/// The transaction log (`payment_events`): the only code that writes events, and the way every
/// consumer reads them.
///
/// Writing: a transition's event is written in the same transaction as the payment row it
/// describes (the checkout's batches, refunds, link expiry).
///
/// Reading in commit order: consumers (the ledger, history totals, notifications, webhooks) each
/// keep a cursor `(xid, seq)` in `event_consumers`. A pass takes the events past the cursor whose
/// transaction is older than every transaction still running (`xid < xmin` of the snapshot: none of
/// them can still commit, so none can appear behind the cursor later), in `(xid, seq)` order, lets
/// the consumer write what it derives, and moves the cursor, all in one transaction. A crash before
/// COMMIT repeats the pass; one after it never does. `seq` alone would not do: a sequence value is
/// taken at insert but becomes visible at commit, so a consumer reading `seq > cursor` skips an event
/// that commits late (the bug Marten fixed; Emmett reads by transaction id the same way).
public struct EventLog: Sendable {
    let database: PostgresClient
    let logger: Logger

    public init(database: PostgresClient, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    /// The consumers, by the name of their cursor.
    public enum Consumer: String, Sendable, CaseIterable {
        case ledger, totals, notifications, webhooks
    }

    // MARK: - Writing

    /// Commit 1 of a batch of checkouts (`checkout_start`).
    func start(_ items: [StartItem], fault: @Sendable (Payments.Step) throws -> Void) async throws -> [StartRow] {
        try await run(StartBatch(items: items), fault: fault)
    }

    /// Commit 3 of a batch of checkouts, and recovery's (`checkout_finish`).
    func finish(_ items: [FinishItem], fault: @Sendable (Payments.Step) throws -> Void) async throws -> [FinishRow] {
        try await run(FinishBatch(items: items), fault: fault)
    }

    /// One batch statement in its own transaction; its rows once its COMMIT returned.
    private func run<Statement: PostgresPreparedStatement>(
        _ statement: Statement, fault: @Sendable (Payments.Step) throws -> Void
    ) async throws -> [Statement.Row] where Statement.Row: Sendable {
        try await database.batchTransaction(logger: logger) { connection in
            var rows: [Statement.Row] = []
            for try await row in try await connection.execute(statement, logger: logger) { rows.append(row) }
            try fault(.batchWritten)
            return rows
        }
    }

    /// One event in the caller's transaction, which holds the lock on what it describes.
    func append(
        _ connection: PostgresConnection, accountID: AccountID, paymentID: PaymentID? = nil, linkID: LinkID? = nil, type: EventType, data: EventData
    ) async throws {
        try await connection.query(
            """
            INSERT INTO payment_events (account_id, id, payment_id, payment_link_id, type, data)
            VALUES (\(accountID), \(Identifier.make("evt")), \(paymentID), \(linkID), \(type.rawValue), \(data.json)::jsonb)
            """,
            logger: logger
        )
    }

    /// Marks links past their expiry as expired, once each, with a `payment_link.expired` event, and
    /// expires their payments still waiting for a card (each with its `payment.expired` event), in
    /// one transaction per batch. Several processes may run it (SKIP LOCKED). Returns how many links.
    func expireLinks(limit: Int) async throws -> Int {
        try await database.transaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                WITH due AS (
                    SELECT account_id, id FROM payment_links
                    WHERE expired_at IS NULL AND revoked_at IS NULL AND expires_at <= now()
                    ORDER BY expires_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                UPDATE payment_links l SET expired_at = now() FROM due
                WHERE l.account_id = due.account_id AND l.id = due.id
                RETURNING l.account_id, l.id
                """,
                logger: logger
            )
            var expired: [(AccountID, LinkID)] = []
            for try await pair in rows.decode((AccountID, LinkID).self) { expired.append(pair) }
            for (accountID, linkID) in expired.sorted(by: { ($0.0, $0.1) < ($1.0, $1.1) }) {
                var data = EventData()
                data["payment_link"] = .string(linkID.rawValue)
                try await append(connection, accountID: accountID, linkID: linkID, type: .paymentLinkExpired, data: data)
                let waiting = try await connection.query(
                    """
                    UPDATE payments SET status = 'expired'
                    WHERE account_id = \(accountID) AND payment_link_id = \(linkID) AND status = 'requires_payment'
                    RETURNING id
                    """,
                    logger: logger
                )
                var paymentIDs: [PaymentID] = []
                for try await paymentID in waiting.decode(PaymentID.self) { paymentIDs.append(paymentID) }
                for paymentID in paymentIDs {
                    try await append(
                        connection, accountID: accountID, paymentID: paymentID, linkID: linkID, type: .paymentExpired,
                        data: EventData(status: .expired))
                }
            }
            return expired.count
        }
    }

    // MARK: - Reading

    /// The payment's transaction log, oldest first.
    public func events(accountID: AccountID, paymentID: PaymentID) async throws -> [PaymentEvent] {
        try await allRows(database.execute(EventsOfPayment(accountID: accountID, key: paymentID.rawValue), logger: logger))
    }

    /// The account's transaction log, newest first, after the event `after`.
    public func accountEvents(
        accountID: AccountID, type: EventType?, after: String?, limit: Int
    ) async throws -> (events: [AccountEvent], hasMore: Bool) {
        let rows = try await database.query(
            """
            SELECT id, type, payment_id, payment_link_id, data::text, created_at FROM payment_events
            WHERE account_id = \(accountID) AND (\(type?.rawValue)::text IS NULL OR type = \(type?.rawValue))
              AND (\(after)::text IS NULL OR seq < (SELECT seq FROM payment_events WHERE account_id = \(accountID) AND id = \(after)))
            ORDER BY seq DESC LIMIT \(limit + 1)
            """,
            logger: logger
        )
        var events: [AccountEvent] = []
        for try await (id, type, payment, link, data, created) in rows.decode((String, String, PaymentID?, LinkID?, String, Date).self) {
            events.append(
                AccountEvent(id: id, type: try EventType.stored(type), paymentID: payment, paymentLinkID: link, data: data, createdAt: created))
        }
        let more = events.count > limit
        if more { events.removeLast() }
        return (events, more)
    }

    // MARK: - Consuming

    /// An event as a consumer reads it.
    public struct Logged: Sendable {
        public let accountID: AccountID
        public let id: String
        public let paymentID: PaymentID?
        public let paymentLinkID: LinkID?
        public let type: EventType
        /// The event's data as stored (JSON text).
        public let data: String
        public let createdAt: Date
    }

    /// One pass of `consumer`: reads up to `limit` events past its cursor in commit order, hands
    /// those of the kinds in `only` to `apply` inside the same transaction, and moves the cursor past
    /// all of them. Returns how many events it read; 0 when there were none, or when another process
    /// is running this consumer right now. Events of other kinds are passed over in PostgreSQL
    /// (their data is not even turned into text).
    public func consume(
        _ consumer: Consumer, only kinds: [EventType] = EventType.allCases, limit: Int,
        _ apply: @Sendable (PostgresConnection, [Logged]) async throws -> Void
    ) async throws -> Int {
        try await database.transaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                WITH mark AS (SELECT xid, seq FROM event_consumers WHERE name = \(consumer.rawValue) FOR UPDATE SKIP LOCKED),
                batch AS (
                    SELECT e.xid, e.seq, e.account_id, e.id, e.payment_id, e.payment_link_id, e.type, e.data, e.created_at
                    FROM payment_events e
                    WHERE (e.xid, e.seq) > ((SELECT xid FROM mark), (SELECT seq FROM mark)) AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
                    ORDER BY e.xid, e.seq LIMIT \(limit)
                ), last AS (
                    SELECT xid, seq, (SELECT count(*) FROM batch) AS read FROM batch ORDER BY xid DESC, seq DESC LIMIT 1
                )
                SELECT last.xid::text, last.seq, last.read, b.account_id, b.id, b.payment_id, b.payment_link_id, b.type, b.data::text, b.created_at
                FROM last LEFT JOIN batch b ON b.type = ANY(\(kinds.map(\.rawValue)))
                ORDER BY b.xid, b.seq
                """,
                logger: logger
            )
            var events: [Logged] = []
            var last: (String, Int64)?
            var read = 0
            for try await (xid, seq, count, account, id, payment, link, type, data, created) in rows.decode(
                (String, Int64, Int64, AccountID?, String?, PaymentID?, LinkID?, String?, String?, Date?).self
            ) {
                last = (xid, seq)
                read = Int(count)
                guard let account, let id, let type, let data, let created else { continue }
                events.append(
                    Logged(
                        accountID: account, id: id, paymentID: payment, paymentLinkID: link, type: try EventType.stored(type), data: data,
                        createdAt: created)
                )
            }
            guard let (xid, seq) = last else { return 0 }
            if !events.isEmpty { try await apply(connection, events) }
            try await connection.query(
                "UPDATE event_consumers SET xid = \(xid)::xid8, seq = \(seq), updated_at = now() WHERE name = \(consumer.rawValue)",
                logger: logger
            )
            return read
        }
    }

    /// How far behind each consumer is: the age of the oldest event it has not consumed (zero when
    /// it has consumed everything committed), and the time up to which what it derives is complete.
    public struct Lag: Sendable, Equatable {
        public let consumer: Consumer
        public let seconds: Double
        /// The creation time of the oldest event not yet consumed; nil when none waits.
        public let waitingSince: Date?
    }

    public func lag() async throws -> [Lag] {
        try await lags(of: nil)
    }

    /// The consumers' lags (one consumer's when `only` names it).
    private func lags(of only: Consumer?) async throws -> [Lag] {
        var bindings = PostgresBindings()
        var sql = """
            SELECT c.name, w.created_at, coalesce(extract(epoch FROM clock_timestamp() - w.created_at), 0)::float8
            FROM event_consumers c
            LEFT JOIN LATERAL (
                SELECT e.created_at FROM payment_events e WHERE (e.xid, e.seq) > (c.xid, c.seq) ORDER BY e.xid, e.seq LIMIT 1
            ) w ON true
            """
        if let only {
            bindings.append(only.rawValue)
            sql += " WHERE c.name = $1"
        }
        sql += " ORDER BY c.name"
        let rows = try await database.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
        var lags: [Lag] = []
        for try await (name, since, seconds) in rows.decode((String, Date?, Double).self) {
            guard let consumer = Consumer(rawValue: name) else { continue }
            lags.append(Lag(consumer: consumer, seconds: max(0, seconds), waitingSince: since))
        }
        return lags
    }

    /// One consumer's lag.
    public func lag(of consumer: Consumer) async throws -> Lag {
        try await lags(of: consumer).first ?? Lag(consumer: consumer, seconds: 0, waitingSince: nil)
    }

    /// Makes the monthly partitions of the log and of the ledger's transfers, from this month
    /// through `monthsAhead` months from now, that do not exist yet (migration 0029); returns how
    /// many it made. Every process's worker calls it each hour.
    public func ensurePartitions(monthsAhead: Int = 3) async throws -> Int {
        let rows = try await database.query("SELECT kassa_ensure_partitions(\(Int32(monthsAhead)))", logger: logger)
        for try await made in rows.decode(Int32.self) { return Int(made) }
        return 0
    }
}

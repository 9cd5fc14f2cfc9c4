import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PaymentCore
import PostgresNIO

/// The merchant-facing consumers of the transaction log: in-app notifications and webhook
/// deliveries (each unique per event and recipient, so a repeated pass makes nothing twice), and the
/// delivery of webhooks. A consumer pass reads past its cursor in commit order (`EventLog.consume`),
/// so any number of server processes may run them: one at a time holds each cursor, and a crash
/// before COMMIT repeats the pass, one after it never does.
struct EventConsumers: Sendable {
    let database: PostgresClient
    let log: EventLog
    let endpoints: WebhookEndpoints
    let logger: Logger
    /// Kassa sends email: the notifications pass also writes the payers' receipts and refund
    /// notices (`payer_emails`), which the email worker sends.
    var emailsPayers = false
    /// Counts delivery results and disabled endpoints (none in tests that make their own).
    var metrics: KassaMetrics? = nil
    /// Where the delivery spans go (`KASSA_OTLP_ENDPOINT`).
    var spans: (any SpanSink)? = nil

    /// After the first attempt: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, then every 6 h, each with
    /// up to 20% jitter; after 3 days the delivery fails and the endpoint is disabled.
    static let backoff: [Int] = [5, 30, 120, 600, 1800, 3600, 10_800, 21_600]
    static let giveUpAfter: TimeInterval = 3 * 86400

    // MARK: notifications

    /// One pass: every announced event (a payment succeeded, failed or was refunded, a link expired)
    /// becomes an in-app notification, written with one statement; when Kassa sends email, a payment
    /// that succeeded or was refunded also becomes an email to its payer, if they gave an address.
    /// Returns how many events it read.
    func notifyPass(limit: Int = 1000) async throws -> Int {
        try await log.consume(.notifications, only: EventType.announced, limit: limit) { connection, announced in
            guard !announced.isEmpty else { return }
            let about = try await Self.subjects(connection, announced, logger: logger)
            var rows: (accounts: [String], ids: [String], events: [String], types: [String], titles: [String], bodies: [String], links: [String]) =
                ([], [], [], [], [], [], [])
            var payer: (accounts: [String], events: [String], payments: [String], kinds: [String], emails: [String], amounts: [Int64]) =
                ([], [], [], [], [], [])
            for event in announced {
                let subject = about[event.id] ?? Subject()
                let refunded = event.type == .paymentRefunded ? Self.refundAmount(event.data) : nil
                let (title, body, link) =
                    event.type == .settlementPaid
                    ? Self.payoutWords(event.data)
                    : Self.words(
                        type: event.type, money: subject.money,
                        refunded: refunded.flatMap { amount in subject.currency.map { Money(minorUnits: amount, currency: $0) } },
                        description: subject.description, failure: subject.failure, paymentID: event.paymentID?.rawValue,
                        linkID: event.paymentLinkID?.rawValue
                    )
                if emailsPayers, let paymentID = event.paymentID, let email = subject.email, !email.isEmpty,
                    let kind = event.type == .paymentSucceeded ? "receipt" : event.type == .paymentRefunded ? "refund" : nil,
                    let amount = kind == "receipt" ? subject.amount : refunded, amount > 0
                {
                    payer.accounts.append(event.accountID.rawValue)
                    payer.events.append(event.id)
                    payer.payments.append(paymentID.rawValue)
                    payer.kinds.append(kind)
                    payer.emails.append(email)
                    payer.amounts.append(amount)
                }
                rows.accounts.append(event.accountID.rawValue)
                rows.ids.append(Identifier.make("ntf"))
                rows.events.append(event.id)
                rows.types.append(event.type.rawValue)
                rows.titles.append(title)
                rows.bodies.append(body)
                rows.links.append(link ?? "")
            }
            try await connection.query(
                """
                INSERT INTO notifications (account_id, id, event_id, type, title, body, link)
                SELECT a, i, e, t, ti, b, nullif(l, '') FROM unnest(\(rows.accounts), \(rows.ids), \(rows.events), \(rows.types), \(rows.titles),
                                                                  \(rows.bodies), \(rows.links)) AS x (a, i, e, t, ti, b, l)
                ON CONFLICT (account_id, event_id) DO NOTHING
                """,
                logger: logger
            )
            guard !payer.events.isEmpty else { return }
            try await connection.query(
                """
                INSERT INTO payer_emails (account_id, event_id, payment_id, kind, email, amount)
                SELECT * FROM unnest(\(payer.accounts), \(payer.events), \(payer.payments), \(payer.kinds), \(payer.emails), \(payer.amounts))
                ON CONFLICT (account_id, event_id) DO NOTHING
                """,
                logger: logger
            )
        }
    }

    /// A `settlement.paid` event's data: the settlement, its net amount and currency, its day.
    struct Payout: Decodable {
        let settlement: String
        let amount: Int64
        let currency: String
        let day: String
    }

    static func payout(_ data: String) -> Payout? { try? JSONDecoder().decode(Payout.self, from: Data(data.utf8)) }

    /// What a notification says about a payout.
    static func payoutWords(_ data: String) -> (String, String, String?) {
        guard let payout = payout(data), let currency = Currency(code: payout.currency) else { return ("Payout sent", "", "/settlements") }
        let money = Money(minorUnits: payout.amount, currency: currency).formatted
        return ("Payout of \(money) sent", "Settlement of \(payout.day) (UTC) in \(currency.code)", "/settlements/\(payout.settlement)")
    }

    /// The refund's amount in a `payment.refunded` event's data.
    static func refundAmount(_ data: String) -> Int64? {
        struct Refunded: Decodable { let amount: Int64? }
        return (try? JSONDecoder().decode(Refunded.self, from: Data(data.utf8)))?.amount
    }

    /// What a notification says about an event's payment or link.
    struct Subject {
        var money = ""
        var description = ""
        var failure: String?
        var amount: Int64?
        var currency: Currency?
        /// The payer's address, when they gave one.
        var email: String?
    }

    /// The payments and links the events are about, in one query, by event id.
    static func subjects(_ connection: PostgresConnection, _ events: [EventLog.Logged], logger: Logger) async throws -> [String: Subject] {
        let rows = try await connection.query(
            """
            SELECT x.event_id, p.amount, p.currency, p.description, p.failure_code, l.description, p.email
            FROM unnest(\(events.map(\.accountID)), \(events.map(\.id)), \(events.map { $0.paymentID?.rawValue ?? "" }), \(events.map { $0.paymentLinkID?.rawValue ?? "" }))
                AS x (account_id, event_id, payment_id, link_id)
            LEFT JOIN LATERAL (
                SELECT amount, currency, description, failure_code, email FROM payments WHERE account_id = x.account_id AND id = x.payment_id
            ) p ON true
            LEFT JOIN LATERAL (SELECT description FROM payment_links WHERE account_id = x.account_id AND id = x.link_id) l ON true
            """,
            logger: logger
        )
        var subjects: [String: Subject] = [:]
        for try await (eventID, amount, code, description, failure, linkDescription, email) in rows.decode(
            (String, Int64?, String?, String?, String?, String?, String?).self)
        {
            var subject = Subject(description: description ?? linkDescription ?? "", failure: failure, email: email)
            if let amount, let currency = code.flatMap(Currency.init(code:)) {
                subject.money = Money(minorUnits: amount, currency: currency).formatted
                subject.amount = amount
                subject.currency = currency
            }
            subjects[eventID] = subject
        }
        return subjects
    }

    static func words(
        type: EventType, money: String, refunded: Money? = nil, description: String, failure: String?, paymentID: String?, linkID: String?
    ) -> (String, String, String?) {
        let link = paymentID.map { "/payments/\($0)" } ?? linkID.map { "/links/\($0)" }
        switch type {
        case .paymentSucceeded: return ("Payment received: \(money)", description, link)
        case .paymentFailed:
            return (
                "Payment failed: \(money)", "\(description) — \(failure.flatMap(DeclineCode.init(rawValue:))?.merchantMessage ?? "declined")", link
            )
        case .paymentRefunded:
            // Two partial refunds of one payment read differently: each names its own amount.
            return (refunded.map { "Refund of \($0.formatted) issued (payment \(money))" } ?? "Refund issued on \(money)", description, link)
        case .paymentLinkExpired: return ("Payment link expired", description, link)
        case .settlementPaid: return ("Payout sent", description, link)
        case .paymentAuthorized: return ("Payment authorized: \(money) to capture", description, link)
        case .paymentCanceled: return ("Authorization voided: \(money)", description, link)
        case .paymentCreated, .paymentProcessing, .paymentExpired, .paymentCaptured: return (type.rawValue, description, link)
        }
    }

    // MARK: webhooks: fan-out

    /// One pass: each announced event becomes one delivery per enabled endpoint of its account that
    /// subscribes to its type and existed when it happened, with the payload fixed now (the object as
    /// it is at this moment). Returns how many events it read.
    func fanOutPass(limit: Int = 1000) async throws -> Int {
        try await log.consume(.webhooks, only: EventType.announced, limit: limit) { connection, announced in
            guard !announced.isEmpty else { return }
            let accounts = Array(Set(announced.map(\.accountID)))
            let endpointRows = try await connection.query(
                "SELECT account_id, id, events, created_at FROM webhook_endpoints WHERE account_id = ANY(\(accounts)) AND status = 'enabled'",
                logger: logger
            )
            var endpoints: [String: [(id: String, events: [String], created: Date)]] = [:]
            for try await (account, id, types, created) in endpointRows.decode((String, String, [String], Date).self) {
                endpoints[account, default: []].append((id, types, created))
            }
            guard !endpoints.isEmpty else { return }
            let objects = try await Self.objects(connection, announced.filter { endpoints[$0.accountID.rawValue] != nil }, logger: logger)
            var rows: (accounts: [String], ids: [String], endpoints: [String], events: [String], types: [String], payloads: [String]) = (
                [], [], [], [], [], []
            )
            for event in announced {
                let targets = (endpoints[event.accountID.rawValue] ?? []).filter {
                    $0.events.contains(event.type.rawValue) && $0.created <= event.createdAt
                }
                guard !targets.isEmpty else { continue }
                let payload = JSON.object([
                    ("id", .string(event.id)), ("type", .string(event.type.rawValue)), ("created_at", .time(event.createdAt)),
                    ("data", .object([("object", objects[event.id] ?? .null)])),
                ]).text
                for target in targets {
                    rows.accounts.append(event.accountID.rawValue)
                    rows.ids.append(Identifier.make("wd"))
                    rows.endpoints.append(target.id)
                    rows.events.append(event.id)
                    rows.types.append(event.type.rawValue)
                    rows.payloads.append(payload)
                }
            }
            guard !rows.ids.isEmpty else { return }
            try await connection.query(
                """
                INSERT INTO webhook_deliveries (account_id, id, endpoint_id, event_id, event_type, payload)
                SELECT * FROM unnest(\(rows.accounts), \(rows.ids), \(rows.endpoints), \(rows.events), \(rows.types), \(rows.payloads))
                ON CONFLICT (account_id, endpoint_id, event_id) DO NOTHING
                """,
                logger: logger
            )
        }
    }

    /// The payment (or link) each event is about, as the API shows it, by event id.
    static func objects(_ connection: PostgresConnection, _ events: [EventLog.Logged], logger: Logger) async throws -> [String: JSON] {
        var objects: [String: JSON] = [:]
        let payments = events.filter { $0.paymentID != nil }
        if !payments.isEmpty {
            let rows = try await connection.query(
                """
                SELECT \(unescaped: PaymentColumns.sql) FROM payments
                WHERE id = ANY(\(payments.compactMap(\.paymentID))) AND account_id = ANY(\(Array(Set(payments.map(\.accountID)))))
                """,
                logger: logger
            )
            var byID: [String: JSON] = [:]
            for try await row in rows {
                let payment = try PaymentColumns.decode(row)
                byID[payment.id.rawValue] = PaymentsAPI.payment(payment)
            }
            for event in payments { objects[event.id] = event.paymentID.flatMap { byID[$0.rawValue] } }
        }
        for event in events where event.paymentID == nil {
            if let linkID = event.paymentLinkID {
                objects[event.id] = .object([("id", .string(linkID.rawValue)), ("object", "payment_link"), ("status", "expired")])
            }
        }
        let payouts = events.filter { $0.type == .settlementPaid }.compactMap { event in payout(event.data).map { (event, $0.settlement) } }
        if !payouts.isEmpty {
            let rows = try await connection.query(
                """
                SELECT \(unescaped: Settlement.selectColumns) FROM settlements
                WHERE id = ANY(\(payouts.map(\.1))) AND account_id = ANY(\(Array(Set(payouts.map(\.0.accountID)))))
                """,
                logger: logger
            )
            var byID: [String: JSON] = [:]
            for try await row in rows {
                let settlement = try Settlement.decode(row)
                byID[settlement.id] = SettlementsAPI.settlement(settlement)
            }
            for (event, id) in payouts { objects[event.id] = byID[id] }
        }
        return objects
    }

    // MARK: webhooks: delivery

    struct Due: Sendable {
        let accountID: AccountID
        let id: String
        let endpointID: String
        let eventID: String
        let payload: String
        let attempts: Int
        let createdAt: Date
        let url: String
    }

    /// Claims due deliveries (a lease: their next attempt moves a minute ahead, so no other process
    /// takes them meanwhile), sends each, and records the outcome. A process that dies mid-send
    /// leaves the lease to expire and the delivery to be retried: at least once, never lost.
    func deliverBatch(limit: Int = 20) async throws -> Int {
        let rows = try await database.query(
            """
            UPDATE webhook_deliveries d SET next_attempt_at = now() + interval '60 seconds', attempts = d.attempts + 1
            FROM webhook_endpoints w
            WHERE (d.account_id, d.id) IN (
                SELECT account_id, id FROM webhook_deliveries
                WHERE status = 'pending' AND next_attempt_at <= now()
                ORDER BY next_attempt_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
              AND w.account_id = d.account_id AND w.id = d.endpoint_id
            RETURNING d.account_id, d.id, d.endpoint_id, d.event_id, d.payload, d.attempts, d.created_at, w.url
            """,
            logger: logger
        )
        var due: [Due] = []
        for try await (account, id, endpoint, event, payload, attempts, created, url) in rows.decode(
            (AccountID, String, String, String, String, Int, Date, String).self)
        {
            due.append(
                Due(
                    accountID: account, id: id, endpointID: endpoint, eventID: event, payload: payload, attempts: attempts, createdAt: created,
                    url: url))
        }
        await withTaskGroup(of: Void.self) { group in
            for delivery in due {
                group.addTask {
                    do {
                        try await send(delivery)
                    } catch {
                        logger.warning("webhook delivery bookkeeping failed", metadata: ["delivery_id": "\(delivery.id)", "error": "\(error)"])
                    }
                }
            }
        }
        return due.count
    }

    /// One attempt, as a trace of its own: its id is on the attempt's log lines, and the request
    /// carries it (`traceparent`) so the merchant's receiver can log it too.
    private func send(_ delivery: Due) async throws {
        let trace = TraceContext.root()
        let started = Trace.now()
        var result = "failed"
        defer {
            spans?.export(
                FinishedSpan(
                    context: trace, parentSpanID: nil, name: "webhook.deliver", kind: .client, start: started, end: Trace.now(),
                    attributes: [
                        ("kassa.webhook.event_id", delivery.eventID), ("kassa.webhook.attempt", String(delivery.attempts)),
                        ("kassa.webhook.result", result),
                    ],
                    error: nil))
        }
        result = try await Trace.$current.withValue(Trace.Scope(context: trace, sink: spans)) { try await attempt(delivery, trace: trace) }
    }

    private func attempt(_ delivery: Due, trace: TraceContext) async throws -> String {
        let started = ContinuousClock.now
        var status: Int? = nil
        var excerpt: String? = nil
        var failure: String? = nil
        switch await endpoints.target(for: delivery.url) {
        case .failure(let refused):
            failure = refused.message
        case .success(let target):
            let secrets = try await endpoints.signingSecrets(accountID: delivery.accountID, id: delivery.endpointID)
            let timestamp = Int64(Date().timeIntervalSince1970)
            let headers = [
                ("content-type", "application/json"), ("user-agent", "Kassa-Webhooks/1"), ("webhook-id", delivery.eventID),
                ("webhook-timestamp", String(timestamp)), ("traceparent", trace.traceparent),
                (
                    "webhook-signature",
                    WebhookEndpoints.signature(id: delivery.eventID, timestamp: timestamp, body: delivery.payload, secrets: secrets)
                ),
            ]
            switch await endpoints.post(to: target, headers: headers, body: delivery.payload) {
            case .http(let code, let text):
                status = code
                excerpt = text
            case .none:
                failure = WebhookEndpoints.noAnswer
            }
        }
        let duration = Int((ContinuousClock.now - started) / .milliseconds(1))
        let delivered = status.map { (200..<300).contains($0) } ?? false
        try await record(delivery, status: status, excerpt: excerpt, error: failure, durationMilliseconds: duration, delivered: delivered)
        return status.map { "HTTP \($0)" } ?? "no answer"
    }

    private func record(_ delivery: Due, status: Int?, excerpt: String?, error: String?, durationMilliseconds: Int, delivered: Bool) async throws {
        try await database.transaction(logger: logger) { connection in
            try await connection.query(
                """
                INSERT INTO webhook_attempts (account_id, delivery_id, response_status, duration_ms, response_excerpt, error)
                VALUES (\(delivery.accountID), \(delivery.id), \(status), \(durationMilliseconds), \(excerpt), \(error))
                """,
                logger: logger
            )
            if delivered {
                metrics?.webhookDelivery("delivered")
                try await connection.query(
                    "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now() WHERE account_id = \(delivery.accountID) AND id = \(delivery.id)",
                    logger: logger
                )
            } else if Date().timeIntervalSince(delivery.createdAt) >= Self.giveUpAfter {
                metrics?.webhookDelivery("failed")
                metrics?.webhookEndpointDisabled()
                try await connection.query(
                    "UPDATE webhook_deliveries SET status = 'failed' WHERE account_id = \(delivery.accountID) AND id = \(delivery.id)", logger: logger
                )
                try await connection.query(
                    """
                    UPDATE webhook_endpoints SET status = 'disabled', disabled_reason = 'Deliveries failed for 3 days'
                    WHERE account_id = \(delivery.accountID) AND id = \(delivery.endpointID) AND status = 'enabled'
                    """,
                    logger: logger
                )
                try await connection.query(
                    """
                    INSERT INTO notifications (account_id, id, event_id, type, title, body, link)
                    VALUES (\(delivery.accountID), \(Identifier.make("ntf")), \("disabled:" + delivery.endpointID), 'webhook_endpoint.disabled',
                            'Webhook endpoint disabled', \("Kassa stopped sending to \(delivery.url) after 3 days of failed deliveries."), '/developers/webhooks')
                    ON CONFLICT (account_id, event_id) DO NOTHING
                    """,
                    logger: logger
                )
            } else {
                metrics?.webhookDelivery("retry")
                let base = Self.backoff[min(delivery.attempts - 1, Self.backoff.count - 1)]
                let delay = Double(base) * Double.random(in: 1.0...1.2)
                try await connection.query(
                    """
                    UPDATE webhook_deliveries SET next_attempt_at = now() + make_interval(secs => \(delay))
                    WHERE account_id = \(delivery.accountID) AND id = \(delivery.id)
                    """,
                    logger: logger
                )
            }
        }
    }

    /// Sends a delivery again now (the merchant's "resend").
    /// A `webhook.test` event for one endpoint, delivered (signed, retried, logged) like any other,
    /// so a merchant can see their receiver work before a real payment. False when the endpoint is
    /// not the account's or is disabled.
    func sendTest(accountID: AccountID, endpointID: String) async throws -> Bool {
        let eventID = "evt_test_" + String(Identifier.make("x").dropFirst(2))
        let payload = JSON.object([
            ("id", .string(eventID)), ("type", "webhook.test"), ("created_at", .time(Date())),
            (
                "data",
                .object([
                    ("object", .object([("object", "test"), ("message", "A test event from Kassa: your endpoint receives and verifies events.")]))
                ])
            ),
        ]).text
        let rows = try await database.query(
            """
            INSERT INTO webhook_deliveries (account_id, id, endpoint_id, event_id, event_type, payload)
            SELECT account_id, \(Identifier.make("wd")), id, \(eventID), 'webhook.test', \(payload) FROM webhook_endpoints
            WHERE account_id = \(accountID) AND id = \(endpointID) AND status = 'enabled'
            RETURNING id
            """,
            logger: logger
        )
        var queued = false
        for try await _ in rows.decode(String.self) { queued = true }
        return queued
    }

    func resend(accountID: AccountID, deliveryID: String) async throws -> Bool {
        let rows = try await database.query(
            """
            UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now()
            WHERE account_id = \(accountID) AND id = \(deliveryID) RETURNING id
            """,
            logger: logger
        )
        var found = false
        for try await _ in rows.decode(String.self) { found = true }
        return found
    }
}

/// Reading a payment row outside PaymentCore's own queries (the webhook payload).
enum PaymentColumns {
    static var sql: String { Payment.selectColumns }
    static func decode(_ row: PostgresRow) throws -> Payment { try Payment.decode(row) }
}

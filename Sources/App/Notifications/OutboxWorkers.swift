import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PaymentCore
import PostgresNIO

/// Turns outbox rows (written with each state change) into notifications and webhook deliveries,
/// and delivers webhooks. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so any number of server
/// processes share the work; a crash between steps leaves the row to be claimed again.
struct OutboxWorkers: Sendable {
    let database: PostgresClient
    let endpoints: WebhookEndpoints
    let http: HTTPClient
    let logger: Logger

    /// After the first attempt: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, then every 6 h, each with
    /// up to 20% jitter; after 3 days the delivery fails and the endpoint is disabled.
    static let backoff: [Int] = [5, 30, 120, 600, 1800, 3600, 10_800, 21_600]
    static let giveUpAfter: TimeInterval = 3 * 86400

    /// How long a processed outbox row is kept (for looking into a delivery) before it is swept.
    static let keepProcessed: Duration = .seconds(7 * 86400)

    /// Deletes outbox rows processed more than `keepProcessed` ago, at most `limit` per statement,
    /// until none are left; pending rows are never touched. Returns how many it deleted.
    func sweepProcessed(limit: Int = 5000) async throws -> Int {
        let seconds = Self.keepProcessed.components.seconds
        var total = 0
        while true {
            let rows = try await database.query(
                """
                DELETE FROM outbox WHERE (account_id, id) IN (
                    SELECT account_id, id FROM outbox
                    WHERE processed_at IS NOT NULL AND processed_at < now() - make_interval(secs => \(Double(seconds)))
                    LIMIT \(limit)
                ) RETURNING id
                """,
                logger: logger
            )
            var deleted = 0
            for try await _ in rows.decode(Int64.self) { deleted += 1 }
            total += deleted
            if deleted < limit { return total }
        }
    }

    // MARK: notifications

    /// One batch of notification rows: each becomes an in-app notification, in one transaction.
    func notifyBatch(limit: Int = 100) async throws -> Int {
        try await database.transaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT o.account_id, o.id, o.event_id, o.event_type, e.payment_id, e.payment_link_id,
                       p.amount, p.currency, p.description, p.failure_code, l.description
                FROM outbox o
                JOIN payment_events e ON e.account_id = o.account_id AND e.id = o.event_id
                LEFT JOIN payments p ON p.account_id = e.account_id AND p.id = e.payment_id
                LEFT JOIN payment_links l ON l.account_id = e.account_id AND l.id = e.payment_link_id
                WHERE o.topic = 'notification' AND o.processed_at IS NULL AND o.available_at <= now()
                ORDER BY o.id LIMIT \(limit)
                FOR UPDATE OF o SKIP LOCKED
                """,
                logger: logger
            )
            var claimed: [(String, Int64, String, String, String?, String?, Int64?, String?, String?, String?, String?)] = []
            for try await row in rows.decode((String, Int64, String, String, String?, String?, Int64?, String?, String?, String?, String?).self) {
                claimed.append(row)
            }
            for (account, outboxID, eventID, type, paymentID, linkID, amount, code, description, failure, linkDescription) in claimed {
                var money = ""
                if let amount, let currency = code.flatMap(Currency.init(code:)) { money = Money(minorUnits: amount, currency: currency).formatted }
                let (title, body, link) = Self.words(
                    type: type, money: money, description: description ?? linkDescription ?? "", failure: failure, paymentID: paymentID, linkID: linkID
                )
                try await connection.query(
                    """
                    INSERT INTO notifications (account_id, id, event_id, type, title, body, link)
                    VALUES (\(account), \(Identifier.make("ntf")), \(eventID), \(type), \(title), \(body), \(link))
                    ON CONFLICT (account_id, event_id) DO NOTHING
                    """,
                    logger: logger
                )
                try await connection.query("UPDATE outbox SET processed_at = now() WHERE account_id = \(account) AND id = \(outboxID)", logger: logger)
            }
            return claimed.count
        }
    }

    static func words(type: String, money: String, description: String, failure: String?, paymentID: String?, linkID: String?) -> (String, String, String?) {
        let link = paymentID.map { "/payments/\($0)" } ?? linkID.map { "/links/\($0)" }
        switch type {
        case "payment.succeeded": return ("Payment received: \(money)", description, link)
        case "payment.failed":
            return ("Payment failed: \(money)", "\(description) — \(failure.flatMap(DeclineCode.init(rawValue:))?.message ?? "declined")", link)
        case "payment.refunded": return ("Refund issued on \(money)", description, link)
        case "payment_link.expired": return ("Payment link expired", description, link)
        case "webhook_endpoint.disabled": return ("Webhook endpoint disabled", description, "/developers/webhooks")
        default: return (type, description, link)
        }
    }

    // MARK: webhooks: fan-out

    /// One batch of webhook rows: each event becomes one delivery per subscribed, enabled endpoint
    /// of the same account, with the payload fixed now (the object as it is at this event).
    func fanOutBatch(limit: Int = 100) async throws -> Int {
        try await database.transaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                SELECT o.account_id, o.id, o.event_id, o.event_type, e.created_at, e.payment_id, e.payment_link_id
                FROM outbox o JOIN payment_events e ON e.account_id = o.account_id AND e.id = o.event_id
                WHERE o.topic = 'webhook' AND o.processed_at IS NULL AND o.available_at <= now()
                ORDER BY o.id LIMIT \(limit)
                FOR UPDATE OF o SKIP LOCKED
                """,
                logger: logger
            )
            var claimed: [(String, Int64, String, String, Date, String?, String?)] = []
            for try await row in rows.decode((String, Int64, String, String, Date, String?, String?).self) { claimed.append(row) }
            for (account, outboxID, eventID, type, created, paymentID, linkID) in claimed {
                let targets = try await connection.query(
                    """
                    SELECT id FROM webhook_endpoints
                    WHERE account_id = \(account) AND status = 'enabled' AND \(type) = ANY(events)
                    """,
                    logger: logger
                )
                var endpointIDs: [String] = []
                for try await id in targets.decode(String.self) { endpointIDs.append(id) }
                if !endpointIDs.isEmpty {
                    let object = try await Self.object(connection, account: account, paymentID: paymentID, linkID: linkID, logger: logger)
                    let payload = JSON.object([
                        ("id", .string(eventID)), ("type", .string(type)), ("created_at", .time(created)), ("data", .object([("object", object)])),
                    ]).text
                    for endpoint in endpointIDs {
                        try await connection.query(
                            """
                            INSERT INTO webhook_deliveries (account_id, id, endpoint_id, event_id, event_type, payload)
                            VALUES (\(account), \(Identifier.make("wd")), \(endpoint), \(eventID), \(type), \(payload))
                            ON CONFLICT (account_id, endpoint_id, event_id) DO NOTHING
                            """,
                            logger: logger
                        )
                    }
                }
                try await connection.query("UPDATE outbox SET processed_at = now() WHERE account_id = \(account) AND id = \(outboxID)", logger: logger)
            }
            return claimed.count
        }
    }

    /// The payment (or link) as the API shows it.
    static func object(_ connection: PostgresConnection, account: String, paymentID: String?, linkID: String?, logger: Logger) async throws -> JSON {
        if let paymentID {
            let rows = try await connection.query(
                "SELECT \(unescaped: PaymentColumns.sql) FROM payments WHERE account_id = \(account) AND id = \(paymentID)", logger: logger
            )
            for try await row in rows { return APIController.payment(try PaymentColumns.decode(row)) }
        }
        if let linkID {
            return .object([("id", .string(linkID)), ("object", "payment_link"), ("status", "expired")])
        }
        return .null
    }

    // MARK: webhooks: delivery

    struct Due: Sendable {
        let accountID: String
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
        for try await (account, id, endpoint, event, payload, attempts, created, url) in rows.decode((String, String, String, String, String, Int, Date, String).self) {
            due.append(Due(accountID: account, id: id, endpointID: endpoint, eventID: event, payload: payload, attempts: attempts, createdAt: created, url: url))
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

    private func send(_ delivery: Due) async throws {
        let started = ContinuousClock.now
        var status: Int? = nil
        var excerpt: String? = nil
        var failure: String? = nil
        if let problem = await endpoints.problem(with: delivery.url) {
            failure = problem
        } else {
            do {
                let secrets = try await endpoints.signingSecrets(accountID: delivery.accountID, id: delivery.endpointID)
                let timestamp = Int64(Date().timeIntervalSince1970)
                var request = HTTPClientRequest(url: delivery.url)
                request.method = .POST
                request.headers.add(name: "content-type", value: "application/json")
                request.headers.add(name: "user-agent", value: "Kassa-Webhooks/1")
                request.headers.add(name: "webhook-id", value: delivery.eventID)
                request.headers.add(name: "webhook-timestamp", value: String(timestamp))
                request.headers.add(
                    name: "webhook-signature", value: WebhookEndpoints.signature(id: delivery.eventID, timestamp: timestamp, body: delivery.payload, secrets: secrets)
                )
                request.body = .bytes(ByteBuffer(string: delivery.payload))
                let response = try await http.execute(request, timeout: .seconds(10))
                status = Int(response.status.code)
                let body = try await response.body.collect(upTo: 4096)
                excerpt = String(buffer: body).prefix(500).description
            } catch {
                failure = String(describing: error).prefix(300).description
            }
        }
        let duration = Int((ContinuousClock.now - started) / .milliseconds(1))
        let delivered = status.map { (200..<300).contains($0) } ?? false
        try await record(delivery, status: status, excerpt: excerpt, error: failure, durationMilliseconds: duration, delivered: delivered)
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
                try await connection.query(
                    "UPDATE webhook_deliveries SET status = 'delivered', delivered_at = now() WHERE account_id = \(delivery.accountID) AND id = \(delivery.id)",
                    logger: logger
                )
            } else if Date().timeIntervalSince(delivery.createdAt) >= Self.giveUpAfter {
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
    func resend(accountID: String, deliveryID: String) async throws -> Bool {
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

import Foundation
import Logging
import PaymentCore
import PostgresNIO

/// Ninety days of a coffee roaster's payments for the demo merchant, so the dashboard, the history
/// and the CSV export have something to show: about 2,000 payments, more on weekdays and in the
/// afternoon, in EUR, USD and GBP, with declines of every kind, full and partial refunds, expired,
/// cancelled and still-open checkouts, and bookings through a payment form with its own fields.
///
/// Written as the checkout writes a payment (the row, then its events in order; a refund row for
/// each refund), in one transaction, so the event log's consumers derive the ledger, the day totals
/// and the notifications exactly as they would have live. Ids and choices come from hashes of the
/// row number: the same history on every machine, dated back from today.
enum DemoHistory {
    /// Candidate rows; weekend days keep two in five, and today's hours not yet come are left out.
    static let candidates = 2_450

    static func write(_ connection: PostgresConnection, account: AccountID, form: FormID, logger: Logger) async throws -> Int {
        try await connection.query(
            """
            CREATE TEMP TABLE demo_plan ON COMMIT DROP AS
            WITH raw AS (
                SELECT g, abs(hashtext('day' || g)) AS h1, abs(hashtext('hour' || g)) AS h2, abs(hashtext('minute' || g)) AS h3,
                       abs(hashtext('currency' || g)) AS h4, abs(hashtext('product' || g)) AS h5, abs(hashtext('status' || g)) AS h6
                FROM generate_series(1, \(Int32(candidates))) g
            ), dated AS (
                SELECT r.*, (now() AT TIME ZONE 'UTC')::date - (r.h1 % 90) AS day FROM raw r
            ), timed AS (
                SELECT d.*, (d.day + make_time(7 + d.h2 % 7 + d.h3 % 8, d.h3 % 60, d.h2 % 60)) AT TIME ZONE 'UTC' AS t
                FROM dated d
                WHERE extract(isodow FROM d.day) < 6 OR d.h2 % 5 < 2
            ), priced AS (
                SELECT t.*,
                       CASE WHEN t.h4 % 10 < 7 THEN 'EUR' WHEN t.h4 % 10 < 9 THEN 'USD' ELSE 'GBP' END AS currency,
                       t.h5 % 7 AS product, t.h6 % 1000 AS roll
                FROM timed t WHERE t.t < now() - interval '5 minutes'
            ), branded AS (
                -- American Express takes no GBP here.
                SELECT p.*, CASE WHEN p.g % 10 < 6 OR (p.g % 10 = 9 AND p.currency = 'GBP') THEN 'visa'
                                 WHEN p.g % 10 < 9 THEN 'mastercard' ELSE 'amex' END AS brand
                FROM priced p
            )
            SELECT p.g, p.t, p.currency,
                   (CASE p.currency
                        WHEN 'EUR' THEN ARRAY[2450, 1290, 4500, 1650, 3200, 8900, 18900]
                        WHEN 'USD' THEN ARRAY[2900, 1500, 5400, 1900, 3600, 9900, 22500]
                        ELSE ARRAY[2200, 1100, 3900, 1400, 2800, 7900, 16900] END)[1 + p.product]::bigint AS amount,
                   (ARRAY['House blend, 1 kg', 'Ethiopia Guji, 250 g', 'Espresso workshop booking', 'Decaf Colombia, 500 g',
                          'Subscription, monthly', 'Hand grinder', 'Wholesale order, 10 kg'])[1 + p.product] AS description,
                   CASE WHEN p.roll < 55 THEN 'failed' WHEN p.roll < 70 THEN 'refunded' WHEN p.roll < 90 THEN 'partially_refunded'
                        WHEN p.roll < 96 THEN 'canceled' WHEN p.roll < 102 THEN 'expired' ELSE 'succeeded' END AS status,
                   (ARRAY['card_declined', 'insufficient_funds', 'expired_card', 'incorrect_cvc', 'processing_error'])[1 + p.g % 5] AS decline,
                   p.brand, CASE p.brand WHEN 'visa' THEN '4242' WHEN 'mastercard' THEN '4444' ELSE '0005' END AS last4,
                   (ARRAY['lena.fischer@example.com', 'marco.rossi@example.com', 'tom.baker@example.com', 'ines.duarte@example.com',
                          'orders@bluebottle-cafe.example', 'sarah.jones@example.co.uk', 'yuki.tanaka@example.jp', 'amara.okafor@example.com',
                          'pieter.devries@example.nl', 'ana.souza@example.com.br', 'jonas.berg@example.se', 'chloe.martin@example.fr'])[1 + p.h3 % 12]
                       AS email,
                   (ARRAY['Lena Fischer', 'Marco Rossi', 'Tom Baker', 'Inês Duarte', 'Bluebottle Café LLC', 'Sarah Jones', 'Yuki Tanaka',
                          'Amara Okafor', 'Pieter de Vries', 'Ana Souza', 'Jonas Berg', 'Chloé Martin'])[1 + p.h3 % 12] AS holder,
                   p.currency = 'EUR' AND p.product = 2 AS booked,
                   NULL::text AS id, NULL::text AS attempt, NULL::text AS refund,
                   least(p.t + make_interval(days => 1 + p.g % 6, hours => p.g % 9), now() - interval '1 minute') AS refunded_at
            FROM branded p
            """,
            logger: logger
        )
        // A few of the latest still wait for a card (requires_payment). `processing` is left out: it
        // lasts seconds, and one left resting is what the recovery worker exists to finish.
        try await connection.query(
            """
            UPDATE demo_plan SET status = 'requires_payment'
            WHERE g IN (SELECT g FROM demo_plan WHERE status = 'succeeded' ORDER BY t DESC OFFSET 1 LIMIT 3)
            """,
            logger: logger
        )
        // Ids of this account's own.
        try await connection.query(
            """
            UPDATE demo_plan SET id = 'pay_' || substr(md5(\(account) || 'pay' || g), 1, 24),
                                 attempt = 'att_' || substr(md5(\(account) || 'att' || g), 1, 24),
                                 refund = 're_' || substr(md5(\(account) || 're' || g), 1, 24)
            """,
            logger: logger
        )
        try await connection.query(
            """
            INSERT INTO payments (account_id, id, status, amount, currency, description, amount_refunded, attempt_id, issuer_id, card_brand,
                                  card_last4, card_exp_month, card_exp_year, failure_code, email, cardholder_name, payment_form_id, custom_fields,
                                  processing_started_at, created_at, updated_at, realm)
            SELECT \(account), d.id, d.status, d.amount, d.currency, d.description,
                   CASE d.status WHEN 'refunded' THEN d.amount WHEN 'partially_refunded' THEN d.amount / 4 ELSE 0 END,
                   c.attempt, c.issuer, c.brand, c.last4, c.exp_month, c.exp_year,
                   CASE WHEN d.status = 'failed' THEN d.decline END,
                   d.email, d.holder, CASE WHEN d.booked THEN \(form) END,
                   CASE WHEN d.booked THEN jsonb_build_array(
                        jsonb_build_object('label', 'Session', 'value', (ARRAY['Saturday 10:00', 'Saturday 14:00', 'Sunday 11:00'])[1 + d.g % 3]),
                        jsonb_build_object('label', 'Espresso machine at home', 'value', (ARRAY['Yes', 'No'])[1 + d.g % 2]))
                        ELSE '[]'::jsonb END,
                   c.started, d.t, CASE WHEN d.status IN ('refunded', 'partially_refunded') THEN d.refunded_at ELSE d.t + interval '2 seconds' END,
                   CASE WHEN d.booked THEN 'demo-coffee.example' ELSE 'shop.demo-coffee.example' END
            FROM demo_plan d
            -- The card and the attempt, for the payments that reached the issuer (none otherwise).
            LEFT JOIN LATERAL (
                SELECT d.attempt, 'iss_test_' || d.brand AS issuer, d.brand, d.last4, 1 + d.g % 12 AS exp_month, 2027 + d.g % 4 AS exp_year,
                       d.t AS started
                WHERE d.status NOT IN ('requires_payment', 'canceled', 'expired')
            ) c ON true
            ORDER BY d.t
            """,
            logger: logger
        )
        // Each payment's events in order (the consumers read them in commit order, by `seq`).
        try await connection.query(
            """
            INSERT INTO payment_events (account_id, id, payment_id, type, data, created_at)
            SELECT \(account), 'evt_' || substr(md5(\(account) || 'evt' || d.g || '.' || e.k), 1, 24), d.id, e.type, e.data, e.at
            FROM demo_plan d,
                 LATERAL (SELECT CASE d.status WHEN 'refunded' THEN d.amount WHEN 'partially_refunded' THEN d.amount / 4 ELSE 0 END AS back) r,
                 LATERAL (VALUES
                    (0, 'payment.created', jsonb_build_object('amount', d.amount, 'currency', d.currency, 'status', 'requires_payment'), d.t),
                    (1, CASE WHEN d.status NOT IN ('requires_payment', 'canceled', 'expired') THEN 'payment.processing' END,
                        jsonb_build_object('attempt_id', d.attempt, 'card_brand', d.brand, 'issuer', 'iss_test_' || d.brand, 'status', 'processing',
                                           'card_last4', d.last4),
                        d.t + interval '1 second'),
                    (2, CASE WHEN d.status = 'failed' THEN 'payment.failed' WHEN d.status = 'canceled' THEN 'payment.canceled'
                             WHEN d.status = 'expired' THEN 'payment.expired' WHEN d.status = 'requires_payment' THEN NULL
                             ELSE 'payment.succeeded' END,
                        CASE WHEN d.status = 'failed' THEN jsonb_build_object('failure_code', d.decline, 'status', 'failed')
                             WHEN d.status IN ('canceled', 'expired') THEN jsonb_build_object('status', d.status)
                             ELSE jsonb_build_object('amount', d.amount, 'authorization_code', upper(substr(md5('auth' || d.g), 1, 6)),
                                                     'currency', d.currency, 'status', 'succeeded') END,
                        d.t + interval '2 seconds'),
                    (3, CASE WHEN d.status IN ('refunded', 'partially_refunded') THEN 'payment.refunded' END,
                        jsonb_build_object('amount', r.back, 'amount_refunded', r.back, 'currency', d.currency, 'refund', d.refund,
                                           'status', d.status),
                        d.refunded_at)
                 ) AS e (k, type, data, at)
            WHERE e.type IS NOT NULL
            ORDER BY d.t, e.k
            """,
            logger: logger
        )
        try await connection.query(
            """
            INSERT INTO refunds (account_id, id, payment_id, amount, currency, reason, created_at)
            SELECT \(account), d.refund, d.id, CASE d.status WHEN 'refunded' THEN d.amount ELSE d.amount / 4 END, d.currency,
                   (ARRAY['Arrived damaged', 'Ordered twice', 'Short shipment', NULL, 'Workshop rescheduled'])[1 + d.g % 5], d.refunded_at
            FROM demo_plan d WHERE d.status IN ('refunded', 'partially_refunded')
            """,
            logger: logger
        )
        let rows = try await connection.query("SELECT count(*) FROM demo_plan", logger: logger)
        var count: Int64 = 0
        for try await value in rows.decode(Int64.self) { count = value }
        return Int(count)
    }
}

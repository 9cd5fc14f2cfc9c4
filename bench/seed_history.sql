-- History for one merchant, written directly as the checkout writes it: payments with their events
-- (created, processing, then succeeded or failed, and a refund for some), so that the consumers of
-- the event log derive the ledger, totals and notifications from it as they would have live.
-- psql variables: acct (account id), n (payments), tag (4 letters, keeps ids apart), spacing (seconds
-- between payments, newest now). One payment in 20 is declined, one in 50 refunded in full.
INSERT INTO payments (account_id, id, status, amount, currency, description, amount_refunded, attempt_id, issuer_id, card_brand,
                      card_last4, card_exp_month, card_exp_year, failure_code, email, processing_started_at, created_at, updated_at)
SELECT :'acct', 'pay_' || :'tag' || lpad(g::text, 20, '0'),
       CASE WHEN g % 20 = 0 THEN 'failed' WHEN g % 50 = 1 THEN 'refunded' ELSE 'succeeded' END,
       100 + g % 5000, 'EUR', 'History ' || g, CASE WHEN g % 50 = 1 THEN 100 + g % 5000 ELSE 0 END,
       'att_' || :'tag' || lpad(g::text, 20, '0'), 'iss_test_visa', 'visa', '4242', 12, 2030,
       CASE WHEN g % 20 = 0 THEN 'card_declined' END, 'payer' || (g % 997) || '@example.com', t, t, t
FROM generate_series(1, :n) g, LATERAL (SELECT now() - make_interval(secs => g * :spacing) AS t) ts;

INSERT INTO payment_events (account_id, id, payment_id, type, data, created_at)
SELECT :'acct', 'evt_' || :'tag' || lpad((g * 4 + e.k)::text, 20, '0'), 'pay_' || :'tag' || lpad(g::text, 20, '0'), e.type, e.data::jsonb, t
FROM generate_series(:n, 1, -1) g,
     LATERAL (SELECT now() - make_interval(secs => g * :spacing) AS t, 100 + g % 5000 AS amount) ts,
     LATERAL (VALUES
        (0, 'payment.created', json_build_object('amount', amount, 'currency', 'EUR', 'status', 'requires_payment')::text),
        (1, 'payment.processing', json_build_object('attempt_id', 'att_' || :'tag' || lpad(g::text, 20, '0'), 'card_brand', 'visa',
                                                     'card_last4', '4242', 'issuer', 'iss_test_visa', 'status', 'processing')::text),
        (2, CASE WHEN g % 20 = 0 THEN 'payment.failed' ELSE 'payment.succeeded' END,
            CASE WHEN g % 20 = 0 THEN json_build_object('failure_code', 'card_declined', 'status', 'failed')::text
                 ELSE json_build_object('amount', amount, 'authorization_code', 'A12345', 'currency', 'EUR', 'status', 'succeeded')::text END),
        (3, CASE WHEN g % 50 = 1 AND g % 20 <> 0 THEN 'payment.refunded' END,
            json_build_object('amount', amount, 'amount_refunded', amount, 'currency', 'EUR', 'refund', 're_' || :'tag' || lpad(g::text, 20, '0'),
                              'status', 'refunded')::text)
     ) AS e (k, type, data)
WHERE e.type IS NOT NULL
ORDER BY g DESC, e.k;

INSERT INTO refunds (account_id, id, payment_id, amount, currency, created_at)
SELECT :'acct', 're_' || :'tag' || lpad(g::text, 20, '0'), 'pay_' || :'tag' || lpad(g::text, 20, '0'), 100 + g % 5000, 'EUR',
       now() - make_interval(secs => g * :spacing)
FROM generate_series(1, :n) g WHERE g % 50 = 1 AND g % 20 <> 0;

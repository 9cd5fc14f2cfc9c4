-- A checkout's SQL as Kassa sends it, replayed by pgbench with no HTTP server in between
-- (make bench runs it with -M prepared, as Kassa sends these statements): the link, the attempt
-- token and the merchant's methods are read; the payment is written `processing` with its two
-- events and the link's use reserved (one durable commit); the simulated issuer records its
-- decision (a second); the payment moves to `succeeded` with its event, balanced posting and
-- outbox rows (a third). What this reaches is the most any server could get out of this schema
-- on this machine; Kassa's own checkout number is compared with it in the bench table.
\set n random(1, 999999999999999)
\set l random(1, 256)
SELECT id, account_id, amount, currency, description, max_uses, uses, payment_method_ids, expires_at, revoked_at, created_at FROM payment_links WHERE id = ('plink_floor' || lpad(:l::text, 19, '0'));
SELECT id, account_id, status, amount, currency, amount_refunded, description, payment_link_id, issuer_id, card_brand, card_last4, card_exp_month, card_exp_year, email, cardholder_name, failure_code, attempt_id, payment_form_id, custom_fields::text AS custom_fields, created_at, updated_at FROM payments WHERE account_id = :acct AND attempt_token = 'tok' || :n;
SELECT id, account_id, issuer_id, currencies, created_at FROM payment_methods WHERE account_id = :acct ORDER BY created_at, id;
BEGIN;
WITH created AS (
  INSERT INTO payments (account_id, id, status, amount, currency, description, payment_link_id, single_use_link_id, attempt_token, email, payment_form_id, custom_fields,
    attempt_id, issuer_id, payment_method_id, card_brand, card_last4, card_exp_month, card_exp_year, card_fingerprint, cardholder_name, processing_started_at)
  VALUES (:acct, 'pay_' || lpad(:n::text, 24, '0'), 'processing', 1999, 'EUR', 'Bench beans', ('plink_floor' || lpad(:l::text, 19, '0')), NULL, 'tok' || :n, 'bench@example.com', NULL, '[]'::jsonb,
    'att_' || lpad(:n::text, 24, '0'), 'iss_test_visa', :method, 'visa', '4242', 12, 2030, 'fpfpfpfpfpfpfpfpfpfpfpfpfpfpfpfpfpfpfpfpfpfp', 'Bench Payer', now())
  RETURNING *
), event AS (
  INSERT INTO payment_events (account_id, id, payment_id, type, data)
  SELECT account_id, 'evt_' || lpad(:n::text, 23, '0') || e.suffix, id, e.type, e.data::jsonb FROM created,
    (VALUES ('a', 'payment.created', '{"amount":1999,"currency":"EUR","payment_link":"x","status":"requires_payment"}'),
            ('b', 'payment.processing', '{"attempt_id":"att_x","card_brand":"visa","card_last4":"4242","issuer":"iss_test_visa","status":"processing"}')) AS e(suffix, type, data)
)
SELECT id, account_id, status, amount, currency, amount_refunded, description, payment_link_id, issuer_id, card_brand, card_last4, card_exp_month, card_exp_year, email, cardholder_name, failure_code, attempt_id, payment_form_id, custom_fields::text AS custom_fields, created_at, updated_at FROM created;
UPDATE payment_links SET uses = uses + 1 WHERE account_id = :acct AND id = ('plink_floor' || lpad(:l::text, 19, '0')) AND revoked_at IS NULL AND expires_at > now() AND uses < max_uses RETURNING max_uses;
COMMIT;
INSERT INTO simulator_authorizations (attempt_id, issuer_id, outcome, decline_code, authorization_code, amount, currency)
VALUES ('att_' || lpad(:n::text, 24, '0'), 'iss_test_visa', 'approved', NULL, 'A12345', 1999, 'EUR')
ON CONFLICT (attempt_id) DO NOTHING RETURNING outcome, decline_code, authorization_code;
BEGIN;
UPDATE payments SET status = 'succeeded' WHERE account_id = :acct AND id = 'pay_' || lpad(:n::text, 24, '0') AND status = 'processing'
RETURNING id, account_id, status, amount, currency, amount_refunded, description, payment_link_id, issuer_id, card_brand, card_last4, card_exp_month, card_exp_year, email, cardholder_name, failure_code, attempt_id, payment_form_id, custom_fields::text AS custom_fields, created_at, updated_at;
WITH event AS (
  INSERT INTO payment_events (account_id, id, payment_id, type, data) VALUES (:acct, 'evt_' || lpad(:n::text, 23, '0') || 'c', 'pay_' || lpad(:n::text, 24, '0'), 'payment.succeeded', '{"amount":1999,"authorization_code":"A12345","currency":"EUR","status":"succeeded"}'::jsonb)
), posting AS (
  INSERT INTO ledger_entries (account_id, posting_id, payment_id, refund_id, ledger_account, currency, amount) VALUES
    (:acct, 'evt_' || lpad(:n::text, 23, '0') || 'c', 'pay_' || lpad(:n::text, 24, '0'), NULL, 'payer_funds', 'EUR', -1999),
    (:acct, 'evt_' || lpad(:n::text, 23, '0') || 'c', 'pay_' || lpad(:n::text, 24, '0'), NULL, 'merchant_balance', 'EUR', 1999)
)
INSERT INTO outbox (account_id, topic, event_id, event_type) VALUES
  (:acct, 'notification', 'evt_' || lpad(:n::text, 23, '0') || 'c', 'payment.succeeded'), (:acct, 'webhook', 'evt_' || lpad(:n::text, 23, '0') || 'c', 'payment.succeeded');
COMMIT;

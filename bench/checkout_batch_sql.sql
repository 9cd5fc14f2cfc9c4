-- The same three commits for 32 checkouts at once, as Kassa's batches send them under load (group
-- commit): one checkout_start over 32-element arrays, one batch of the simulator's decisions, one
-- checkout_finish. pgbench's tps here × 32 = checkouts per second. The arrays are built by
-- PostgreSQL from generate_series (Kassa binds them from Swift), which costs this replay a little.
\set n random(1, 9999999999999)
\set l random(0, 255)
BEGIN;
SELECT count(*) FROM checkout_start(
  ARRAY(SELECT :acct::text FROM generate_series(0, 31)),
  ARRAY(SELECT 'plink_floor' || lpad(((:l + g * 7) % 256 + 1)::text, 19, '0') FROM generate_series(0, 31) g),
  ARRAY(SELECT '' FROM generate_series(0, 31)),
  ARRAY(SELECT 'pay_' || lpad((:n::bigint * 32 + g)::text, 24, '0') FROM generate_series(0, 31) g),
  ARRAY(SELECT 1999::bigint FROM generate_series(0, 31)),
  ARRAY(SELECT 'EUR' FROM generate_series(0, 31)),
  ARRAY(SELECT 'Bench beans' FROM generate_series(0, 31)),
  ARRAY(SELECT 'tok' || (:n::bigint * 32 + g) FROM generate_series(0, 31) g),
  ARRAY(SELECT 'bench@example.com' FROM generate_series(0, 31)),
  ARRAY(SELECT '[]' FROM generate_series(0, 31)),
  ARRAY(SELECT 'att_' || lpad((:n::bigint * 32 + g)::text, 24, '0') FROM generate_series(0, 31) g),
  ARRAY(SELECT 'iss_test_visa' FROM generate_series(0, 31)),
  ARRAY(SELECT :method::text FROM generate_series(0, 31)),
  ARRAY(SELECT 'visa' FROM generate_series(0, 31)),
  ARRAY(SELECT '4242' FROM generate_series(0, 31)),
  ARRAY(SELECT 12 FROM generate_series(0, 31)),
  ARRAY(SELECT 2030 FROM generate_series(0, 31)),
  ARRAY(SELECT 'fpfpfpfpfpfpfpfpfpfpfpfpfpfpfpfp' FROM generate_series(0, 31)),
  ARRAY(SELECT 'Bench Payer' FROM generate_series(0, 31)),
  ARRAY(SELECT 'evt_' || lpad((:n::bigint * 32 + g)::text, 23, '0') || 'a' FROM generate_series(0, 31) g),
  ARRAY(SELECT '{"amount":1999,"currency":"EUR","payment_link":"plink_x","status":"requires_payment"}' FROM generate_series(0, 31)),
  ARRAY(SELECT 'evt_' || lpad((:n::bigint * 32 + g)::text, 23, '0') || 'b' FROM generate_series(0, 31) g),
  ARRAY(SELECT '{"attempt_id":"att_x","card_brand":"visa","card_last4":"4242","issuer":"iss_test_visa","risk_score":20,"status":"processing"}' FROM generate_series(0, 31)),
  ARRAY(SELECT '' FROM generate_series(0, 31)),
  ARRAY(SELECT 20 FROM generate_series(0, 31)),
  ARRAY(SELECT '' FROM generate_series(0, 31)));
COMMIT;
BEGIN;
INSERT INTO simulator_authorizations (attempt_id, issuer_id, outcome, authorization_code, amount, currency)
SELECT 'att_' || lpad((:n::bigint * 32 + g)::text, 24, '0'), 'iss_test_visa', 'approved', 'A12345', 1999, 'EUR' FROM generate_series(0, 31) g
ON CONFLICT (attempt_id) DO NOTHING;
COMMIT;
BEGIN;
SELECT count(*) FROM checkout_finish(
  ARRAY(SELECT :acct::text FROM generate_series(0, 31)),
  ARRAY(SELECT 'pay_' || lpad((:n::bigint * 32 + g)::text, 24, '0') FROM generate_series(0, 31) g),
  ARRAY(SELECT true FROM generate_series(0, 31)),
  ARRAY(SELECT '' FROM generate_series(0, 31)),
  ARRAY(SELECT 'evt_' || lpad((:n::bigint * 32 + g)::text, 23, '0') || 'c' FROM generate_series(0, 31) g),
  ARRAY(SELECT '{"amount":1999,"authorization_code":"A12345","currency":"EUR","status":"succeeded"}' FROM generate_series(0, 31)));
COMMIT;

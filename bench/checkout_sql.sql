-- A checkout's SQL as Kassa sends it under light load (batches of one), replayed by pgbench with no
-- HTTP server in between (-M prepared, as Kassa sends its statements): commit 1, the payment born
-- `processing` with its two events and its link's use (checkout_start); commit 2, the simulated
-- issuer's decision; commit 3, `succeeded` with its event (checkout_finish). What it reaches is the
-- most this schema gives one checkout at a time on this machine. The ledger, totals and
-- notifications are derived later by the consumers (not replayed here).
\set n random(1, 99999999999999)
\set l random(1, 256)
BEGIN;
SELECT count(*) FROM checkout_start(
  ARRAY[:acct::text], ARRAY['plink_floor' || lpad(:l::text, 19, '0')], ARRAY[''], ARRAY['pay_' || lpad(:n::text, 24, '0')], ARRAY[1999::bigint],
  ARRAY['EUR'], ARRAY['Bench beans'], ARRAY['tok' || :n], ARRAY['bench@example.com'], ARRAY['[]'], ARRAY['att_' || lpad(:n::text, 24, '0')],
  ARRAY['iss_test_visa'], ARRAY[:method::text], ARRAY['visa'], ARRAY['4242'], ARRAY[12], ARRAY[2030], ARRAY['fpfpfpfpfpfpfpfpfpfpfpfpfpfpfpfp'],
  ARRAY['Bench Payer'], ARRAY['evt_' || lpad(:n::text, 23, '0') || 'a'],
  ARRAY['{"amount":1999,"currency":"EUR","payment_link":"plink_x","status":"requires_payment"}'],
  ARRAY['evt_' || lpad(:n::text, 23, '0') || 'b'],
  ARRAY['{"attempt_id":"att_x","card_brand":"visa","card_last4":"4242","issuer":"iss_test_visa","risk_score":20,"status":"processing"}'],
  ARRAY[''], ARRAY[20], ARRAY['']);
COMMIT;
BEGIN;
INSERT INTO simulator_authorizations (attempt_id, issuer_id, outcome, authorization_code, amount, currency)
VALUES ('att_' || lpad(:n::text, 24, '0'), 'iss_test_visa', 'approved', 'A12345', 1999, 'EUR') ON CONFLICT (attempt_id) DO NOTHING;
COMMIT;
BEGIN;
SELECT count(*) FROM checkout_finish(ARRAY[:acct::text], ARRAY['pay_' || lpad(:n::text, 24, '0')], ARRAY[true], ARRAY[''],
  ARRAY['evt_' || lpad(:n::text, 23, '0') || 'c'], ARRAY['{"amount":1999,"authorization_code":"A12345","currency":"EUR","status":"succeeded"}']);
COMMIT;

-- An Idempotency-Key record belongs to the API key that made it: another key of the account is
-- refused rather than answered from it. The stored answer can hold a secret (a webhook
-- endpoint's whsec_), so it is kept sealed by the server (response_sealed) and never in clear.
-- Records made before this have no owner and are refused, never replayed; their clear answers go.

ALTER TABLE idempotency_keys
    ADD COLUMN api_key_id text CHECK (api_key_id ~ '^key_[0-9A-Za-z]{24}$'),
    ADD COLUMN response_sealed bytea;

UPDATE idempotency_keys SET response_body = NULL WHERE response_body IS NOT NULL;

ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_never_in_clear CHECK (response_body IS NULL);

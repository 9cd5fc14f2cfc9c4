-- The developer platform: API keys, idempotency records, per-account API rate limits.

CREATE TABLE api_keys (
    account_id    text NOT NULL REFERENCES accounts (id),
    id            text NOT NULL CHECK (id ~ '^key_[0-9A-Za-z]{24}$'),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    kind          text NOT NULL CHECK (kind IN ('secret', 'publishable')),
    -- The first characters of the key, shown in lists and used to find it.
    lookup        text NOT NULL CHECK (length(lookup) = 12),
    -- SHA-256 of the whole key, hex; the key itself is shown once and never stored.
    secret_hash   text NOT NULL CHECK (secret_hash ~ '^[0-9a-f]{64}$'),
    scopes        text[] NOT NULL,
    expires_at    timestamptz,
    revoked_at    timestamptz,
    rolled_to     text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id)
);

CREATE INDEX api_keys_lookup_idx ON api_keys (lookup);
CREATE INDEX api_keys_account_idx ON api_keys (account_id, created_at DESC);

-- Idempotency-Key records: the first request's fingerprint and, once done, its response.
CREATE TABLE idempotency_keys (
    account_id        text NOT NULL REFERENCES accounts (id),
    key               text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint       text NOT NULL,
    response_status   integer,
    response_body     text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, key)
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- Requests per minute for this account's API keys (NULL: the server's default).
ALTER TABLE accounts ADD COLUMN api_requests_per_minute integer CHECK (api_requests_per_minute > 0);

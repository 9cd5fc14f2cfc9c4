-- Password recovery: one row per emailed (or operator-printed) link. Only the SHA-256 of the
-- link's token is kept, so a copy of the database cannot reset anyone's password. A link works
-- once (used_at) and for 30 minutes (expires_at); a reset that holds ends every other link of
-- the person too.

CREATE TABLE password_resets (
    token_hash  text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    CHECK (expires_at > created_at AND expires_at <= created_at + interval '1 hour'),
    CHECK (used_at IS NULL OR used_at >= created_at)
);

CREATE INDEX password_resets_user_idx ON password_resets (user_id) WHERE used_at IS NULL;

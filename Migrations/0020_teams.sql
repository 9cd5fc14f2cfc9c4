-- Teams: the people of an account have roles (viewer < developer < admin < owner; everyone who
-- signed up before this owns their account), others are invited by a single-use link valid for
-- seven days, and what people do that matters (sign-ins, keys, refunds, roles, two-factor) is
-- kept in an audit log.

ALTER TABLE users ADD COLUMN role text NOT NULL DEFAULT 'owner' CHECK (role IN ('viewer', 'developer', 'admin', 'owner'));

CREATE TABLE invites (
    account_id   text NOT NULL REFERENCES accounts (id),
    id           text NOT NULL CHECK (id ~ '^inv_[0-9A-Za-z]{24}$'),
    -- SHA-256 of the token in the link, hex; the token itself is shown once and never stored.
    token_hash   text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    email        text NOT NULL CHECK (length(email) BETWEEN 3 AND 254 AND position('@' IN email) > 1),
    role         text NOT NULL CHECK (role IN ('viewer', 'developer', 'admin', 'owner')),
    invited_by   text REFERENCES users (id) ON DELETE SET NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    accepted_at  timestamptz,
    revoked_at   timestamptz,
    PRIMARY KEY (account_id, id),
    CHECK (accepted_at IS NULL OR revoked_at IS NULL)
);

CREATE TABLE audit_log (
    account_id  text NOT NULL REFERENCES accounts (id),
    seq         bigserial,
    at          timestamptz NOT NULL DEFAULT now(),
    user_id     text,
    actor       text NOT NULL,
    action      text NOT NULL CHECK (action ~ '^[a-z_]+\.[a-z_]+$'),
    detail      text NOT NULL DEFAULT '',
    client      text NOT NULL DEFAULT '',
    PRIMARY KEY (account_id, seq)
);

CREATE INDEX audit_log_account_idx ON audit_log (account_id, at DESC);

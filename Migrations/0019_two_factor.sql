-- Two-factor sign-in: a TOTP secret (sealed by the server; pending until its first code is
-- confirmed), the time step of the last code accepted (a code is never accepted twice), and ten
-- single-use recovery codes kept as SHA-256 digests.

ALTER TABLE users
    ADD COLUMN totp_secret_sealed text,
    ADD COLUMN totp_pending_sealed text,
    ADD COLUMN totp_enabled_at timestamptz,
    ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT users_totp_enabled_has_secret CHECK ((totp_enabled_at IS NULL) = (totp_secret_sealed IS NULL));

CREATE TABLE recovery_codes (
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  text NOT NULL CHECK (code_hash ~ '^[0-9a-f]{64}$'),
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, code_hash)
);

-- The platform operator's console (/ops): operators, suspended merchants and what operators did.
--
-- An operator is a person (a users row) marked `operator`, whose home is an account of their own
-- marked `platform`: it is no merchant, the console never lists it, and no API token is issued
-- for it. Operators sign in at /login like anyone, with two-factor required before /ops opens.

ALTER TABLE accounts ADD COLUMN platform boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN operator boolean NOT NULL DEFAULT false;

-- A suspended merchant's links and forms answer "unavailable" to payers and its API keys 403;
-- payments in flight finish and refunds still work. The reason is shown to its people.
ALTER TABLE accounts
    ADD COLUMN suspended_at timestamptz,
    ADD COLUMN suspended_reason text,
    ADD CONSTRAINT accounts_suspension_has_reason CHECK ((suspended_at IS NULL) = (suspended_reason IS NULL)),
    ADD CONSTRAINT accounts_suspended_reason_length CHECK (suspended_reason IS NULL OR length(btrim(suspended_reason)) BETWEEN 1 AND 500);
CREATE INDEX accounts_suspended_idx ON accounts (id) WHERE suspended_at IS NOT NULL;

-- Every operator action, with who and why (a reason is required).
CREATE TABLE operator_actions (
    seq             bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    operator_id     text NOT NULL REFERENCES users (id),
    operator_email  text NOT NULL,
    account_id      text NOT NULL REFERENCES accounts (id),
    action          text NOT NULL CHECK (action IN ('suspend', 'resume', 'limits')),
    detail          text NOT NULL DEFAULT '',
    reason          text NOT NULL CHECK (length(btrim(reason)) BETWEEN 1 AND 500)
);
CREATE INDEX operator_actions_account_idx ON operator_actions (account_id, at DESC);

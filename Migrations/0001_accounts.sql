-- Merchant accounts and the people who sign in to them.
--
-- Every merchant-owned table carries account_id and leads its indexes with it so
-- the schema can be distributed by merchant. `users` is the exception: login looks
-- a person up by email before any account is known, so it stays a reference table.

CREATE TABLE accounts (
    id          text PRIMARY KEY CHECK (id ~ '^acct_[0-9A-Za-z]{24}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id                   text PRIMARY KEY CHECK (id ~ '^usr_[0-9A-Za-z]{24}$'),
    account_id           text NOT NULL REFERENCES accounts (id),
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    email                text NOT NULL CHECK (length(email) BETWEEN 3 AND 254 AND position('@' IN email) > 1),
    password_hash        text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    password_changed_at  timestamptz NOT NULL DEFAULT now(),
    created_at           timestamptz NOT NULL DEFAULT now()
);

-- One person per email, whatever its case.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_account_id_idx ON users (account_id, id);

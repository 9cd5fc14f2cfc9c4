-- Settlements: each closed UTC day of a merchant's money in one currency, for disbursement
-- (seed 001's ERD). Derived from the ledger, which is derived from the event log: a settlement is
-- the captures (`payer_funds` → `merchant_balance`) and refunds of its day, each transfer in
-- exactly one settlement (settlement_items' key), each payment's capture in one only. Fees are the
-- account's percentage (basis points) plus a fixed amount per captured payment, default nothing.
-- A settlement is `pending` when made and `paid` once the (simulated) payout ran, which logs
-- `settlement.paid` for notifications and webhooks.

ALTER TABLE accounts ADD COLUMN fee_basis_points integer NOT NULL DEFAULT 0 CHECK (fee_basis_points BETWEEN 0 AND 10000);
ALTER TABLE accounts ADD COLUMN fee_fixed_minor bigint NOT NULL DEFAULT 0 CHECK (fee_fixed_minor BETWEEN 0 AND 100000);

CREATE TABLE settlements (
    account_id     text NOT NULL REFERENCES accounts (id),
    id             text NOT NULL CHECK (id ~ '^stl_[0-9A-Za-z]{24}$'),
    currency       text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    day            date NOT NULL,
    gross          bigint NOT NULL CHECK (gross >= 0),
    refunds        bigint NOT NULL CHECK (refunds >= 0),
    fees           bigint NOT NULL CHECK (fees >= 0),
    net            bigint NOT NULL,
    payment_count  integer NOT NULL CHECK (payment_count >= 0),
    status         text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    paid_at        timestamptz,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, currency, day),
    CHECK (net = gross - refunds - fees),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL))
);

CREATE INDEX settlements_list_idx ON settlements (account_id, day DESC, currency);
CREATE INDEX settlements_pending_idx ON settlements (created_at) WHERE status = 'pending';

CREATE TABLE settlement_items (
    account_id     text NOT NULL,
    settlement_id  text NOT NULL,
    event_id       text NOT NULL,
    payment_id     text NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('capture', 'refund')),
    amount         bigint NOT NULL CHECK (amount > 0),
    PRIMARY KEY (account_id, event_id),
    FOREIGN KEY (account_id, settlement_id) REFERENCES settlements (account_id, id),
    FOREIGN KEY (account_id, event_id) REFERENCES ledger_transfers (account_id, event_id)
);

CREATE UNIQUE INDEX settlement_items_one_capture_idx ON settlement_items (account_id, payment_id) WHERE kind = 'capture';
CREATE INDEX settlement_items_settlement_idx ON settlement_items (account_id, settlement_id, payment_id);

-- Closing reads the transfers of the days not closed yet, across merchants: from the watermark on.
CREATE INDEX ledger_transfers_created_idx ON ledger_transfers (created_at);

-- Everything before `closed_until` (a UTC midnight) is in settlements; one row, moved forward by
-- the pass that closes the days before it, under its lock.
CREATE TABLE settlement_watermark (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    closed_until  timestamptz NOT NULL
);
INSERT INTO settlement_watermark (closed_until) VALUES ('-infinity');

-- `settlement.paid` is an event of the log like any other, about a settlement.
ALTER TABLE payment_events ADD COLUMN settlement_id text;
ALTER TABLE payment_events DROP CONSTRAINT payment_events_subject;
ALTER TABLE payment_events ADD CONSTRAINT payment_events_subject
    CHECK (payment_id IS NOT NULL OR payment_link_id IS NOT NULL OR settlement_id IS NOT NULL);
ALTER TABLE payment_events ADD CONSTRAINT payment_events_settlement_fkey
    FOREIGN KEY (account_id, settlement_id) REFERENCES settlements (account_id, id);
ALTER TABLE payment_events DROP CONSTRAINT payment_events_type_known;
ALTER TABLE payment_events ADD CONSTRAINT payment_events_type_known CHECK (type IN (
    'payment.created', 'payment.processing', 'payment.succeeded', 'payment.failed',
    'payment.refunded', 'payment.canceled', 'payment.expired', 'payment_link.expired', 'settlement.paid'
));

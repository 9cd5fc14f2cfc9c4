-- The payment core: issuers, payment methods, payment links, payments, their events,
-- refunds, the double-entry ledger and the outbox.
--
-- Invariants live here as constraints where PostgreSQL can hold them, so that no code
-- path (or hand-written SQL) can break them: legal status transitions, refunds never
-- above the captured amount, one successful payment per single-use link and per
-- checkout attempt, append-only events and ledger, every ledger posting balanced.
--
-- Merchant-owned tables key on (account_id, id) and lead their indexes with account_id
-- so the schema distributes by merchant. Issuers are a reference table.

-- Issuers ------------------------------------------------------------------------------

CREATE TABLE issuers (
    id          text PRIMARY KEY CHECK (id ~ '^iss_[a-z0-9_]{3,40}$'),
    name        text NOT NULL UNIQUE,
    network     text NOT NULL CHECK (network IN ('visa', 'mastercard', 'amex', 'discover', 'jcb', 'unionpay')),
    -- The catch-all issuer of its network for cards no other issuer claims.
    is_test     boolean NOT NULL DEFAULT false,
    currencies  text[] NOT NULL CHECK (cardinality(currencies) > 0 AND array_position(currencies, NULL) IS NULL)
);

CREATE UNIQUE INDEX issuers_one_test_per_network ON issuers (network) WHERE is_test;

-- Six-digit BIN ranges; no two ranges overlap, so a card has one issuer.
CREATE TABLE issuer_bin_ranges (
    issuer_id  text NOT NULL REFERENCES issuers (id),
    low        integer NOT NULL CHECK (low BETWEEN 100000 AND 999999),
    high       integer NOT NULL CHECK (high BETWEEN 100000 AND 999999 AND high >= low),
    PRIMARY KEY (issuer_id, low),
    EXCLUDE USING gist (int4range(low, high, '[]') WITH &&)
);

INSERT INTO issuers (id, name, network, is_test, currencies) VALUES
    ('iss_test_visa',        'Kassa Test Visa',        'visa',       true, '{USD,EUR,GBP,CAD,AUD,CHF,SEK,NOK,DKK,JPY,NZD,SGD,HKD,PLN,CZK}'),
    ('iss_test_mastercard',  'Kassa Test Mastercard',  'mastercard', true, '{USD,EUR,GBP,CAD,AUD,CHF,SEK,NOK,DKK,JPY,NZD,SGD,HKD,PLN,CZK}'),
    ('iss_test_amex',        'Kassa Test Amex',        'amex',       true, '{USD,EUR,GBP,CAD,AUD,CHF,SEK,JPY}'),
    ('iss_test_discover',    'Kassa Test Discover',    'discover',   true, '{USD,EUR,GBP,CAD,AUD,CHF,SEK}'),
    ('iss_test_jcb',         'Kassa Test JCB',         'jcb',        true, '{USD,EUR,GBP,CAD,AUD,CHF,SEK,JPY}'),
    ('iss_test_unionpay',    'Kassa Test UnionPay',    'unionpay',   true, '{USD,EUR,GBP,CAD,AUD,CHF,SEK,CNY,HKD}'),
    ('iss_liberty_national', 'Liberty National Bank',  'visa',       false, '{USD}'),
    ('iss_maple_trust',      'Maple Trust',            'visa',       false, '{CAD,USD}'),
    ('iss_nordlys',          'Nordlys Sparebank',      'visa',       false, '{NOK,SEK,DKK,EUR}'),
    ('iss_gulf_dinar',       'Gulf Dinar Bank',        'visa',       false, '{BHD,KWD,USD}'),
    ('iss_thames',           'Thames Bank',            'mastercard', false, '{GBP,EUR}'),
    ('iss_rheinland',        'Rheinland Sparkasse',    'mastercard', false, '{EUR,CHF}'),
    ('iss_alpine',           'Alpine Kantonalbank',    'mastercard', false, '{CHF,EUR}'),
    ('iss_pacific_express',  'Pacific Express',        'amex',       false, '{AUD,NZD,USD}'),
    ('iss_golden_gate',      'Golden Gate Card Services', 'discover', false, '{USD}'),
    ('iss_sakura',           'Sakura Card',            'jcb',        false, '{JPY,USD}'),
    ('iss_huaxia',           'Huaxia UnionPay Bank',   'unionpay',   false, '{CNY,HKD,USD}');

INSERT INTO issuer_bin_ranges (issuer_id, low, high) VALUES
    ('iss_liberty_national', 453200, 453299),
    ('iss_maple_trust',      450600, 450699),
    ('iss_nordlys',          492500, 492599),
    ('iss_gulf_dinar',       464600, 464699),
    ('iss_thames',           535300, 535399),
    ('iss_rheinland',        522200, 522299),
    ('iss_alpine',           545500, 545599),
    ('iss_pacific_express',  376000, 376099),
    ('iss_golden_gate',      601120, 601129),
    ('iss_sakura',           356900, 356999),
    ('iss_huaxia',           621700, 621799);

-- Payment methods: the issuers a merchant accepts, each in some of its currencies ---------

CREATE TABLE payment_methods (
    account_id  text NOT NULL REFERENCES accounts (id),
    id          text NOT NULL CHECK (id ~ '^pm_[0-9A-Za-z]{24}$'),
    issuer_id   text NOT NULL REFERENCES issuers (id),
    currencies  text[] NOT NULL CHECK (cardinality(currencies) > 0 AND array_position(currencies, NULL) IS NULL),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, issuer_id)
);

-- A method's currencies are a subset of its issuer's.
CREATE FUNCTION payment_methods_check_currencies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT NEW.currencies <@ (SELECT currencies FROM issuers WHERE id = NEW.issuer_id) THEN
        RAISE EXCEPTION 'issuer % does not support all of %', NEW.issuer_id, NEW.currencies
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payment_methods_currencies_supported';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER payment_methods_currencies_supported BEFORE INSERT OR UPDATE ON payment_methods
    FOR EACH ROW EXECUTE FUNCTION payment_methods_check_currencies();

-- Payment links -------------------------------------------------------------------------

CREATE TABLE payment_links (
    account_id          text NOT NULL REFERENCES accounts (id),
    id                  text NOT NULL CHECK (id ~ '^plink_[0-9A-Za-z]{24}$'),
    amount              bigint NOT NULL CHECK (amount > 0),
    currency            text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    description         text NOT NULL CHECK (length(description) BETWEEN 1 AND 500),
    max_uses            integer NOT NULL DEFAULT 1 CHECK (max_uses BETWEEN 1 AND 1000000),
    -- Payments processing or captured through this link; a failed one gives its use back.
    uses                integer NOT NULL DEFAULT 0,
    -- Empty: every method the merchant accepts in the currency.
    payment_method_ids  text[] NOT NULL DEFAULT '{}',
    expires_at          timestamptz NOT NULL,
    revoked_at          timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    CONSTRAINT payment_links_uses_within_max CHECK (uses BETWEEN 0 AND max_uses),
    CHECK (expires_at > created_at)
);

CREATE INDEX payment_links_id_idx ON payment_links (id);
CREATE INDEX payment_links_account_created_idx ON payment_links (account_id, created_at DESC, id DESC);

-- Payments ------------------------------------------------------------------------------

CREATE TABLE payments (
    account_id             text NOT NULL REFERENCES accounts (id),
    id                     text NOT NULL CHECK (id ~ '^pay_[0-9A-Za-z]{24}$'),
    status                 text NOT NULL CHECK (status IN (
                               'requires_payment', 'processing', 'succeeded', 'failed',
                               'canceled', 'expired', 'partially_refunded', 'refunded')),
    amount                 bigint NOT NULL CHECK (amount > 0),
    currency               text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount_refunded        bigint NOT NULL DEFAULT 0,
    description            text NOT NULL DEFAULT '',
    payment_link_id        text,
    -- Set only for single-use links; the partial unique index below allows one live payment.
    single_use_link_id     text,
    -- The checkout page's token: a repeated submit finds the first payment.
    attempt_token          text,
    -- Sent to the issuer before it is called, so a crash can be resolved by asking it.
    attempt_id             text CHECK (attempt_id ~ '^att_[0-9A-Za-z]{24}$'),
    issuer_id              text REFERENCES issuers (id),
    payment_method_id      text,
    card_brand             text,
    card_last4             text CHECK (card_last4 ~ '^[0-9]{4}$'),
    card_exp_month         integer CHECK (card_exp_month BETWEEN 1 AND 12),
    card_exp_year          integer,
    card_fingerprint       text,
    cardholder_name        text,
    email                  text,
    failure_code           text,
    processing_started_at  timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, payment_link_id) REFERENCES payment_links (account_id, id),
    CONSTRAINT payments_refund_within_captured CHECK (amount_refunded BETWEEN 0 AND amount),
    CHECK (amount_refunded = 0 OR status IN ('partially_refunded', 'refunded')),
    CHECK (status <> 'refunded' OR amount_refunded = amount),
    CHECK (status <> 'partially_refunded' OR amount_refunded BETWEEN 1 AND amount - 1),
    CHECK (status <> 'failed' OR failure_code IS NOT NULL),
    CHECK (status IN ('requires_payment', 'canceled', 'expired') OR attempt_id IS NOT NULL),
    CHECK (single_use_link_id IS NULL OR single_use_link_id = payment_link_id)
);

CREATE INDEX payments_id_idx ON payments (id);
CREATE INDEX payments_account_created_idx ON payments (account_id, created_at DESC, id DESC);
CREATE INDEX payments_account_link_idx ON payments (account_id, payment_link_id, created_at DESC);
CREATE UNIQUE INDEX payments_attempt_token_key ON payments (account_id, attempt_token) WHERE attempt_token IS NOT NULL;
CREATE UNIQUE INDEX payments_attempt_id_key ON payments (account_id, attempt_id) WHERE attempt_id IS NOT NULL;
-- At most one payment per single-use link that is processing or took money.
CREATE UNIQUE INDEX payments_single_use_link_key ON payments (account_id, single_use_link_id)
    WHERE single_use_link_id IS NOT NULL AND status IN ('processing', 'succeeded', 'partially_refunded', 'refunded');
-- The recovery worker's queue (every merchant's, so it does not lead with account_id).
CREATE INDEX payments_processing_idx ON payments (processing_started_at) WHERE status = 'processing';

-- The state machine of DESIGN.md, and fields that never change once written.
CREATE FUNCTION payments_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.account_id <> OLD.account_id OR NEW.amount <> OLD.amount
        OR NEW.currency <> OLD.currency OR NEW.amount_refunded < OLD.amount_refunded THEN
        RAISE EXCEPTION 'payment %: id, account, amount and currency never change; refunds only grow', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_immutable_fields';
    END IF;
    IF NEW.status <> OLD.status AND NOT (OLD.status || '>' || NEW.status) = ANY (ARRAY[
        'requires_payment>processing', 'requires_payment>canceled', 'requires_payment>expired',
        'processing>succeeded', 'processing>failed',
        'succeeded>partially_refunded', 'succeeded>refunded', 'partially_refunded>refunded'
    ]) THEN
        RAISE EXCEPTION 'payment %: % cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_legal_transition';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;

CREATE TRIGGER payments_guard BEFORE UPDATE ON payments
    FOR EACH ROW EXECUTE FUNCTION payments_guard_update();

-- Refunds -------------------------------------------------------------------------------

CREATE TABLE refunds (
    account_id  text NOT NULL REFERENCES accounts (id),
    id          text NOT NULL CHECK (id ~ '^re_[0-9A-Za-z]{24}$'),
    payment_id  text NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    reason      text CHECK (length(reason) <= 500),
    status      text NOT NULL DEFAULT 'succeeded' CHECK (status IN ('succeeded')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, payment_id) REFERENCES payments (account_id, id)
);

CREATE INDEX refunds_payment_idx ON refunds (account_id, payment_id, created_at);

-- Append-only tables ------------------------------------------------------------------------

CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$;

-- The transaction log of every payment: one row per state change, never edited.
CREATE TABLE payment_events (
    account_id  text NOT NULL REFERENCES accounts (id),
    id          text NOT NULL CHECK (id ~ '^evt_[0-9A-Za-z]{24}$'),
    seq         bigint GENERATED ALWAYS AS IDENTITY,
    payment_id  text NOT NULL,
    type        text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    data        jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, payment_id) REFERENCES payments (account_id, id)
);

CREATE INDEX payment_events_payment_idx ON payment_events (account_id, payment_id, seq);
CREATE INDEX payment_events_account_seq_idx ON payment_events (account_id, seq DESC);

CREATE TRIGGER payment_events_append_only BEFORE UPDATE OR DELETE ON payment_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Double-entry ledger: every posting moves money between two ledger accounts and sums to zero.
CREATE TABLE ledger_entries (
    account_id      text NOT NULL REFERENCES accounts (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    posting_id      text NOT NULL,
    payment_id      text NOT NULL,
    refund_id       text,
    ledger_account  text NOT NULL CHECK (ledger_account IN ('payer_funds', 'merchant_balance')),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount          bigint NOT NULL CHECK (amount <> 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, payment_id) REFERENCES payments (account_id, id)
);

CREATE INDEX ledger_entries_balance_idx ON ledger_entries (account_id, ledger_account, currency);
CREATE INDEX ledger_entries_posting_idx ON ledger_entries (account_id, posting_id);

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Checked at commit, when every leg of the posting is in.
CREATE FUNCTION ledger_check_posting_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT coalesce(sum(amount), 0) FROM ledger_entries
        WHERE account_id = NEW.account_id AND posting_id = NEW.posting_id AND currency = NEW.currency) <> 0 THEN
        RAISE EXCEPTION 'ledger posting % does not balance in %', NEW.posting_id, NEW.currency
            USING ERRCODE = 'check_violation', CONSTRAINT = 'ledger_postings_balance';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_postings_balance AFTER INSERT ON ledger_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_posting_balanced();

-- Outbox: written in the same transaction as the event; workers claim rows with SKIP LOCKED.
CREATE TABLE outbox (
    account_id    text NOT NULL REFERENCES accounts (id),
    id            bigint GENERATED ALWAYS AS IDENTITY,
    topic         text NOT NULL CHECK (topic IN ('notification', 'webhook')),
    event_id      text NOT NULL,
    event_type    text NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    available_at  timestamptz NOT NULL DEFAULT now(),
    processed_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, topic, event_id)
);

CREATE INDEX outbox_pending_idx ON outbox (topic, available_at) WHERE processed_at IS NULL;

-- The issuer simulator's own records --------------------------------------------------------
-- Stands in for the issuer's system: one decision per attempt id, so asking again (after a
-- timeout or a crash) gets the same answer. `voided` means Kassa gave up on an attempt
-- the issuer never decided; a late authorization of it is refused.

CREATE TABLE simulator_authorizations (
    attempt_id          text PRIMARY KEY,
    issuer_id           text NOT NULL REFERENCES issuers (id),
    outcome             text NOT NULL CHECK (outcome IN ('approved', 'declined', 'voided')),
    decline_code        text,
    amount              bigint,
    currency            text,
    authorization_code  text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((outcome = 'declined') = (decline_code IS NOT NULL))
);

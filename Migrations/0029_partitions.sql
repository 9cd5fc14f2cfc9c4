-- Monthly partitions of the two tables that grow with every payment: `payment_events` (the log) and
-- `ledger_transfers`, both by `created_at` (a transfer's is its event's, so a month of transfers
-- and the month of events they come from are one pair of partitions). An operator archives an old
-- month by detaching its two partitions (README, "Archiving a month").
--
-- No row is copied: each table as it stands becomes its first partition, `…_early`, holding
-- everything before next month (PostgreSQL checks the bound with one scan). `kassa_ensure_partitions`
-- makes the months after it, three ahead; `migrate` calls it and a worker of every process calls it
-- again each hour, so a month's partition exists long before its first row.
--
-- PostgreSQL's rule: a unique key of a partitioned table includes the partition key. The keys
-- become (account_id, id, created_at) and (account_id, event_id, created_at), and the foreign keys
-- into them name `created_at` too. An event has one `created_at`, so "one transfer per event" still
-- holds; what the database no longer refuses is a second event reusing an id at another instant
-- (ids are 24 random base-62 characters made by Kassa).

LOCK TABLE payment_events, ledger_transfers, settlement_items IN ACCESS EXCLUSIVE MODE;

ALTER TABLE settlement_items DROP CONSTRAINT settlement_items_account_id_event_id_fkey;
ALTER TABLE ledger_transfers DROP CONSTRAINT ledger_transfers_account_id_event_id_fkey;

-- The log -------------------------------------------------------------------------------------
ALTER TABLE payment_events RENAME TO payment_events_early;
-- Its key is the parent's now (attaching builds the partition's index of it).
ALTER TABLE payment_events_early DROP CONSTRAINT payment_events_pkey;
ALTER INDEX payment_events_payment_idx RENAME TO payment_events_early_payment_idx;
ALTER INDEX payment_events_account_seq_idx RENAME TO payment_events_early_account_seq_idx;
ALTER INDEX payment_events_commit_order_idx RENAME TO payment_events_early_commit_order_idx;
DROP TRIGGER payment_events_append_only ON payment_events_early;

-- `seq` keeps counting from where it was: one sequence for every partition (an identity column
-- would start again at 1, and the account's newest-first order reads `seq`).
CREATE SEQUENCE payment_events_seq AS bigint;
SELECT setval('payment_events_seq', coalesce((SELECT max(seq) FROM payment_events_early), 0) + 1, false);
ALTER TABLE payment_events_early ALTER COLUMN seq DROP IDENTITY;

CREATE TABLE payment_events (LIKE payment_events_early INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (created_at);
ALTER TABLE payment_events ALTER COLUMN seq SET DEFAULT nextval('payment_events_seq');
ALTER SEQUENCE payment_events_seq OWNED BY payment_events.seq;
ALTER TABLE payment_events ADD CONSTRAINT payment_events_pkey PRIMARY KEY (account_id, id, created_at);
CREATE INDEX payment_events_payment_idx ON payment_events (account_id, payment_id, seq);
CREATE INDEX payment_events_account_seq_idx ON payment_events (account_id, seq DESC);
CREATE INDEX payment_events_commit_order_idx ON payment_events (xid, seq);
ALTER TABLE payment_events ADD CONSTRAINT payment_events_account_id_payment_id_fkey
    FOREIGN KEY (account_id, payment_id) REFERENCES payments (account_id, id);
ALTER TABLE payment_events ADD CONSTRAINT payment_events_link_fkey
    FOREIGN KEY (account_id, payment_link_id) REFERENCES payment_links (account_id, id);
ALTER TABLE payment_events ADD CONSTRAINT payment_events_settlement_fkey
    FOREIGN KEY (account_id, settlement_id) REFERENCES settlements (account_id, id);
CREATE TRIGGER payment_events_append_only BEFORE UPDATE OR DELETE ON payment_events
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
ALTER TABLE payment_events ATTACH PARTITION payment_events_early
    FOR VALUES FROM (MINVALUE) TO (date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 month');

-- The ledger's transfers ---------------------------------------------------------------------
ALTER TABLE ledger_transfers RENAME TO ledger_transfers_early;
ALTER TABLE ledger_transfers_early DROP CONSTRAINT ledger_transfers_pkey;
ALTER INDEX ledger_transfers_balance_idx RENAME TO ledger_transfers_early_balance_idx;
ALTER INDEX ledger_transfers_created_idx RENAME TO ledger_transfers_early_created_idx;
DROP TRIGGER ledger_transfers_append_only ON ledger_transfers_early;
-- A partition cannot have a trigger with a transition table; the parent has it instead.
DROP TRIGGER ledger_balances_kept ON ledger_transfers_early;

CREATE TABLE ledger_transfers (LIKE ledger_transfers_early INCLUDING DEFAULTS INCLUDING CONSTRAINTS) PARTITION BY RANGE (created_at);
ALTER TABLE ledger_transfers ADD CONSTRAINT ledger_transfers_pkey PRIMARY KEY (account_id, event_id, created_at);
CREATE INDEX ledger_transfers_balance_idx ON ledger_transfers (account_id, currency);
CREATE INDEX ledger_transfers_created_idx ON ledger_transfers (created_at);
CREATE TRIGGER ledger_transfers_append_only BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
CREATE TRIGGER ledger_balances_kept AFTER INSERT ON ledger_transfers
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ledger_balances_add();
ALTER TABLE ledger_transfers ATTACH PARTITION ledger_transfers_early
    FOR VALUES FROM (MINVALUE) TO (date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + interval '1 month');
ALTER TABLE ledger_transfers ADD CONSTRAINT ledger_transfers_event_fkey
    FOREIGN KEY (account_id, event_id, created_at) REFERENCES payment_events (account_id, id, created_at);

-- A settlement's item names its transfer by the whole key. A process still running the code from
-- before this file inserts items without the time: the trigger looks it up.
ALTER TABLE settlement_items ADD COLUMN transfer_created_at timestamptz;
UPDATE settlement_items i SET transfer_created_at = t.created_at
FROM ledger_transfers t WHERE t.account_id = i.account_id AND t.event_id = i.event_id;
ALTER TABLE settlement_items ALTER COLUMN transfer_created_at SET NOT NULL;
CREATE FUNCTION settlement_items_transfer_time() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.transfer_created_at IS NULL THEN
        SELECT created_at INTO NEW.transfer_created_at FROM ledger_transfers
        WHERE account_id = NEW.account_id AND event_id = NEW.event_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER settlement_items_transfer_time BEFORE INSERT ON settlement_items
    FOR EACH ROW EXECUTE FUNCTION settlement_items_transfer_time();
ALTER TABLE settlement_items ADD CONSTRAINT settlement_items_transfer_fkey
    FOREIGN KEY (account_id, event_id, transfer_created_at) REFERENCES ledger_transfers (account_id, event_id, created_at);

-- The months ahead ---------------------------------------------------------------------------
-- Makes the monthly partitions of both tables from this month through `months_ahead` months from
-- now that do not exist yet (a month inside `…_early` is skipped); returns how many it made. Each
-- is made empty and then attached, which locks the parent only against other schema changes,
-- never against inserts. Safe to call from several processes at once.
CREATE FUNCTION kassa_ensure_partitions(months_ahead integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    parent text;
    month timestamptz;
    name text;
    made integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('kassa_ensure_partitions'));
    FOREACH parent IN ARRAY ARRAY['payment_events', 'ledger_transfers'] LOOP
        FOR step IN 0..months_ahead LOOP
            month := date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' + make_interval(months => step);
            name := parent || '_' || to_char(month AT TIME ZONE 'UTC', 'YYYY_MM');
            CONTINUE WHEN to_regclass(name) IS NOT NULL;
            -- Inside the first partition's range: nothing to make.
            CONTINUE WHEN EXISTS (
                SELECT 1 FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = parent::regclass AND c.relname = parent || '_early'
                  AND pg_get_expr(c.relpartbound, c.oid) LIKE '%TO (''%'
                  AND month < substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''([^'']+)''\)')::timestamptz);
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name, parent);
            -- The bound as a constraint first: attaching then needs no scan.
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (created_at >= %L AND created_at < %L)',
                           name, name || '_month', month, month + interval '1 month');
            EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           parent, name, month, month + interval '1 month');
            made := made + 1;
        END LOOP;
    END LOOP;
    RETURN made;
END $$;

SELECT kassa_ensure_partitions(3);

-- Archiving a month (README, "Archiving a month") --------------------------------------------
-- What leaves with a month: its transfers, summed per merchant, currency and UTC day, so that the
-- ledger's audit and the settlements' reconciliation still add up without them; and its
-- settlement items, kept here (they would otherwise hold the month's transfers in place).
CREATE TABLE ledger_archive (
    account_id  text NOT NULL,
    currency    text NOT NULL,
    day         date NOT NULL,
    gross       bigint NOT NULL,
    refunds     bigint NOT NULL,
    transfers   bigint NOT NULL,
    PRIMARY KEY (account_id, currency, day)
);
CREATE TABLE settlement_items_archive (LIKE settlement_items INCLUDING CONSTRAINTS, PRIMARY KEY (account_id, event_id));

-- The first step of archiving the month `suffix` ('2027_01', or 'early'): refuses unless the month
-- is over (by `as_of`), every day of it is settled and the ledger has read all of it; then writes
-- its transfers' sums to `ledger_archive` and moves its settlement items to
-- `settlement_items_archive`, in this one transaction. Returns the two DETACH statements to run next.
CREATE FUNCTION kassa_archive_prepare(suffix text, as_of timestamptz DEFAULT now()) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    events regclass := to_regclass('payment_events_' || suffix);
    transfers regclass := to_regclass('ledger_transfers_' || suffix);
    upper_bound timestamptz;
    unread bigint;
BEGIN
    IF events IS NULL OR transfers IS NULL THEN
        RAISE EXCEPTION 'there are no partitions payment_events_% and ledger_transfers_%', suffix, suffix;
    END IF;
    SELECT substring(pg_get_expr(relpartbound, oid) FROM 'TO \(''([^'']+)''\)')::timestamptz INTO upper_bound
    FROM pg_class WHERE oid = transfers AND relispartition;
    IF upper_bound IS NULL THEN
        RAISE EXCEPTION '% is not a partition of ledger_transfers (already detached?)', transfers;
    END IF;
    IF upper_bound > date_trunc('month', as_of AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' THEN
        RAISE EXCEPTION 'the month of % is not over: it runs until %', transfers, upper_bound;
    END IF;
    IF (SELECT closed_until FROM settlement_watermark) < upper_bound THEN
        RAISE EXCEPTION 'the days of % are not all settled yet (settled until %)', transfers, (SELECT closed_until FROM settlement_watermark);
    END IF;
    EXECUTE format($q$SELECT count(*) FROM %s e WHERE e.type IN ('payment.succeeded', 'payment.refunded')
                       AND NOT EXISTS (SELECT 1 FROM %s t WHERE t.account_id = e.account_id AND t.event_id = e.id)$q$, events, transfers)
        INTO unread;
    IF unread > 0 THEN
        RAISE EXCEPTION '% money-moving events of % have no transfer yet', unread, events;
    END IF;
    EXECUTE format($q$INSERT INTO ledger_archive (account_id, currency, day, gross, refunds, transfers)
                      SELECT account_id, currency, (created_at AT TIME ZONE 'UTC')::date,
                             coalesce(sum(amount) FILTER (WHERE debit = 'payer_funds'), 0),
                             coalesce(sum(amount) FILTER (WHERE debit = 'merchant_balance'), 0), count(*)
                      FROM %s GROUP BY 1, 2, 3$q$, transfers);
    EXECUTE format($q$WITH moved AS (
                          DELETE FROM settlement_items i USING %s t
                          WHERE i.account_id = t.account_id AND i.event_id = t.event_id AND i.transfer_created_at = t.created_at
                          RETURNING i.*)
                      INSERT INTO settlement_items_archive SELECT * FROM moved$q$, transfers);
    RETURN format(E'ALTER TABLE ledger_transfers DETACH PARTITION %s CONCURRENTLY;\nALTER TABLE payment_events DETACH PARTITION %s CONCURRENTLY;',
                  transfers, events);
END $$;

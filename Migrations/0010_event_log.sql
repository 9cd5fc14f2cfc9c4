-- The write path of design/checkout-write-path.md.
--
-- 1. `payment_events` is the one synchronous record besides the payment row, and the outbox.
--    Consumers read it in commit order: a sequence value is taken at insert but becomes visible at
--    commit, so "seq > cursor" would skip a row that committed late. Each event carries the id of
--    the transaction that wrote it (`xid`); a consumer reads events past its cursor whose
--    transaction is older than every transaction still running (below the snapshot's xmin, so
--    nothing can still commit before them), in (xid, seq) order, and advances its cursor in the
--    same transaction as its own writes.
-- 2. The ledger becomes one balanced transfer per money-moving event (unique by event id),
--    written by its consumer; it replaces the two legs and their deferred sum() check.
-- 3. Notifications and webhook deliveries are consumers of the log: the outbox table goes.
-- 4. History totals per account, UTC day, currency and status, kept by their consumer.
-- 5. The checkout's transitions as set-based functions over arrays, so that many checkouts share
--    one statement and one commit (group commit).

-- Nothing may write a payment or an event while the log gets its commit-order column: every
-- transaction that writes one touches one of these tables first, so once these locks are held,
-- every later writer's events carry a later transaction id than this migration's.
LOCK TABLE payment_links, payment_forms, payments, refunds, payment_events, ledger_entries, outbox IN ACCESS EXCLUSIVE MODE;

-- 1. Commit order --------------------------------------------------------------------------
-- Existing events all get this migration's transaction id (a non-volatile default is evaluated
-- once); their order among themselves is their seq.
ALTER TABLE payment_events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX payment_events_commit_order_idx ON payment_events (xid, seq);

-- Where each consumer has read up to, in (xid, seq) order. A consumer locks its row for the
-- length of a pass (FOR UPDATE SKIP LOCKED): one process at a time runs it, any process may.
CREATE TABLE event_consumers (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z_]+$'),
    xid         xid8 NOT NULL,
    seq         bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Where the outbox had left each consumer: just before the first event still waiting for it, or
-- after the last event when none waits. Consumers repeat nothing they already did (notifications
-- and deliveries are unique per event and recipient), so starting earlier is harmless.
INSERT INTO event_consumers (name, xid, seq)
SELECT c.name, pg_current_xact_id(),
       coalesce((SELECT min(e.seq) - 1 FROM outbox o JOIN payment_events e ON e.account_id = o.account_id AND e.id = o.event_id
                 WHERE o.topic = c.topic AND o.processed_at IS NULL),
                (SELECT max(seq) FROM payment_events), 0)
FROM (VALUES ('notifications', 'notification'), ('webhooks', 'webhook')) AS c (name, topic);
INSERT INTO event_consumers (name, xid, seq)
SELECT c.name, pg_current_xact_id(), coalesce((SELECT max(seq) FROM payment_events), 0)
FROM (VALUES ('ledger'), ('totals')) AS c (name);

-- 2. The ledger: one transfer per money-moving event -------------------------------------------
-- `amount` leaves `debit` and arrives in `credit`: balanced by construction. A payment's success
-- moves it from the payer's funds to the merchant's balance; a refund moves it back.
CREATE TABLE ledger_transfers (
    account_id  text NOT NULL,
    event_id    text NOT NULL,
    payment_id  text NOT NULL,
    refund_id   text,
    debit       text NOT NULL CHECK (debit IN ('payer_funds', 'merchant_balance')),
    credit      text NOT NULL CHECK (credit IN ('payer_funds', 'merchant_balance')),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount      bigint NOT NULL CHECK (amount > 0),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (account_id, event_id),
    FOREIGN KEY (account_id, event_id) REFERENCES payment_events (account_id, id),
    CHECK (debit <> credit)
);

CREATE INDEX ledger_transfers_balance_idx ON ledger_transfers (account_id, currency);

CREATE TRIGGER ledger_transfers_append_only BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION refuse_change();

-- Every posting so far becomes its transfer (the posting id was its event's id).
INSERT INTO ledger_transfers (account_id, event_id, payment_id, refund_id, debit, credit, currency, amount, created_at)
SELECT d.account_id, d.posting_id, d.payment_id, d.refund_id, d.ledger_account, c.ledger_account, d.currency, c.amount, d.created_at
FROM ledger_entries d
JOIN ledger_entries c ON c.account_id = d.account_id AND c.posting_id = d.posting_id AND c.currency = d.currency AND c.amount > 0
WHERE d.amount < 0;

DROP TABLE ledger_entries;
DROP FUNCTION ledger_check_posting_balanced();

-- 3. No outbox ------------------------------------------------------------------------------
DROP TABLE outbox;

-- 4. History totals ---------------------------------------------------------------------------
-- Per merchant, UTC day of the payment's creation, currency and status: how many payments, the
-- sum of their amounts and of what was refunded of them. Kept by the totals consumer; the history
-- page sums a few of these rows instead of every payment.
CREATE TABLE payment_totals (
    account_id  text NOT NULL,
    day         date NOT NULL,
    currency    text NOT NULL,
    status      text NOT NULL,
    count       bigint NOT NULL,
    amount      bigint NOT NULL,
    refunded    bigint NOT NULL,
    PRIMARY KEY (account_id, day, currency, status)
);

INSERT INTO payment_totals (account_id, day, currency, status, count, amount, refunded)
SELECT account_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, count(*), sum(amount), sum(amount_refunded)
FROM payments GROUP BY 1, 2, 3, 4;

-- 5. A finished payment's row is rewritten in place ---------------------------------------------
-- `processing` → `succeeded` changed a column that two partial indexes filter on, so PostgreSQL wrote
-- a new entry into each of the payment's nine indexes. With neither filtering on the status, and
-- room left on each page for the new version, the move is a HOT update: no index is touched.
--   * The recovery worker's queue becomes a table of the payments in flight, written and emptied by
--     the same statements that start and finish them.
--   * "At most one payment holds a single-use link" keeps its unique index: a payment holds the link
--     while `single_use_link_id` is set, and a failed payment clears it as it gives the use back.
DROP INDEX payments_processing_idx;
CREATE TABLE payments_in_flight (
    account_id  text NOT NULL,
    payment_id  text NOT NULL,
    started_at  timestamptz NOT NULL,
    PRIMARY KEY (account_id, payment_id)
);
INSERT INTO payments_in_flight (account_id, payment_id, started_at)
SELECT account_id, id, coalesce(processing_started_at, updated_at) FROM payments WHERE status = 'processing';

UPDATE payments SET single_use_link_id = NULL
WHERE single_use_link_id IS NOT NULL AND status NOT IN ('processing', 'succeeded', 'partially_refunded', 'refunded');
ALTER TABLE payments ADD CONSTRAINT payments_single_use_held_while_live
    CHECK (single_use_link_id IS NULL OR status IN ('processing', 'succeeded', 'partially_refunded', 'refunded'));
DROP INDEX payments_single_use_link_key;
CREATE UNIQUE INDEX payments_single_use_link_key ON payments (account_id, single_use_link_id) WHERE single_use_link_id IS NOT NULL;

-- Half of each new page stays free for the finished versions of its rows (all HOT in make bench's
-- replay, against 58% with a quarter free); the indexes, no longer doubled by every update, stay
-- half the size, which pays for the larger heap.
ALTER TABLE payments SET (fillfactor = 50);

-- 6. The checkout's transitions, many at once ---------------------------------------------------
-- Lock order, in every function and every other writer: payment links, then payment forms, then
-- payments, each in (account_id, id) order. Each item's outcome comes back as a row; one item's
-- refusal never fails the others.

-- Start: each item becomes a payment born `processing` (and in flight) with its `payment.created`
-- and `payment.processing` events, and takes one use of its link or form, in one commit. Items are
-- judged in arrival order, exactly as if they came one at a time (an attempt token belongs to one
-- link or form, as the checkout page signs it for one; a test checks this against serial runs):
--   replay      an earlier submit of the same attempt made `payment` (in an earlier batch or earlier
--               in this one); nothing is written
--   started     `payment` was written
--   not_found, revoked, expired, used_up (links), closed (forms): refused; nothing is written
--   stale       the caller's copy of the link, form or methods is out of date; nothing is written
--   conflict    a unique index refused the row although the locks say it cannot happen; retry
CREATE FUNCTION checkout_start(
    p_account text[], p_link text[], p_form text[], p_payment text[], p_amount bigint[], p_currency text[], p_description text[],
    p_token text[], p_email text[], p_answers text[], p_attempt text[], p_issuer text[], p_method text[], p_brand text[],
    p_last4 text[], p_exp_month integer[], p_exp_year integer[], p_fingerprint text[], p_holder text[],
    p_created_event text[], p_created_data text[], p_processing_event text[], p_processing_data text[]
) RETURNS TABLE (item integer, outcome text, payment text)
-- Planned once, not per call: with the array lengths unknown the plan is the same anyway (index
-- probes per item), and planning this statement cost PostgreSQL more than running it for a few
-- items (a third more checkouts per second in the replay).
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    -- Every look-up below is an index probe per item (= ANY on an index, LATERAL with LIMIT 1):
    -- PostgreSQL cannot know how long the arrays are, and a guess that they are long made it hash
    -- whole tables on every batch.
    PERFORM 1 FROM payment_links l
    WHERE l.id = ANY (p_link) AND l.account_id = ANY (p_account)
    ORDER BY l.account_id, l.id FOR UPDATE;
    PERFORM 1 FROM payment_forms f
    WHERE f.id = ANY (p_form) AND f.account_id = ANY (p_account)
    ORDER BY f.account_id, f.id FOR UPDATE;
    -- A new statement, so a new snapshot: it sees everything committed by whoever held those locks.
    RETURN QUERY
    WITH i AS (
        SELECT * FROM unnest(p_account, p_link, p_form, p_payment, p_amount, p_currency, p_description, p_token, p_email, p_answers,
                             p_attempt, p_issuer, p_method, p_brand, p_last4, p_exp_month, p_exp_year, p_fingerprint, p_holder,
                             p_created_event, p_created_data, p_processing_event, p_processing_data) WITH ORDINALITY
            AS t (account_id, link_id, form_id, payment_id, amount, currency, description, token, email, answers, attempt_id, issuer_id,
                  method_id, brand, last4, exp_month, exp_year, fingerprint, holder, created_event, created_data, processing_event,
                  processing_data, n)
    ), subject AS (
        SELECT i.*, min(i.n) OVER (PARTITION BY i.account_id, i.token) AS first_n, earlier.id AS earlier_payment,
               l.id IS NOT NULL AS has_link, l.amount AS link_amount, l.currency AS link_currency, l.description AS link_description,
               l.revoked_at, l.expires_at AS link_expires, l.uses AS link_uses, l.max_uses AS link_max, l.payment_method_ids,
               f.id IS NOT NULL AS has_form, f.archived_at, f.expires_at AS form_expires, f.uses AS form_uses, f.max_uses AS form_max,
               f.currency AS form_currency, m.id IS NOT NULL AS method_ok
        FROM i
        LEFT JOIN LATERAL (
            SELECT p.id FROM payments p WHERE p.account_id = i.account_id AND p.attempt_token = i.token AND p.attempt_token IS NOT NULL LIMIT 1
        ) earlier ON true
        LEFT JOIN LATERAL (
            SELECT * FROM payment_links l WHERE i.link_id <> '' AND l.account_id = i.account_id AND l.id = i.link_id LIMIT 1
        ) l ON true
        LEFT JOIN LATERAL (
            SELECT * FROM payment_forms f WHERE i.form_id <> '' AND f.account_id = i.account_id AND f.id = i.form_id LIMIT 1
        ) f ON true
        LEFT JOIN LATERAL (
            SELECT m.id FROM payment_methods m
            WHERE m.account_id = i.account_id AND m.id = i.method_id AND m.issuer_id = i.issuer_id
              AND (CASE WHEN l.id IS NOT NULL THEN l.currency ELSE i.currency END) = ANY (m.currencies)
            LIMIT 1
        ) m ON true
    ), judged AS (  -- the first submit of each attempt in this batch
        SELECT s.*, CASE
            WHEN s.earlier_payment IS NOT NULL THEN 'replay'
            WHEN s.link_id <> '' AND NOT s.has_link THEN 'not_found'
            WHEN s.link_id <> '' AND s.revoked_at IS NOT NULL THEN 'revoked'
            WHEN s.link_id <> '' AND s.link_uses >= s.link_max THEN 'used_up'
            WHEN s.link_id <> '' AND s.link_expires <= now() THEN 'expired'
            WHEN s.form_id <> '' AND (NOT s.has_form OR s.archived_at IS NOT NULL OR s.form_expires <= now()
                                      OR (s.form_max IS NOT NULL AND s.form_uses >= s.form_max)) THEN 'closed'
            WHEN s.link_id = '' AND s.form_id = '' THEN 'not_found'
            WHEN NOT s.method_ok OR (s.has_link AND cardinality(s.payment_method_ids) > 0 AND NOT s.method_id = ANY (s.payment_method_ids))
                 OR (s.has_form AND s.form_currency <> s.currency) THEN 'stale'
            ELSE 'open' END AS verdict
        FROM subject s WHERE s.n = s.first_n
    ), ranked AS (  -- first come, first served for what is left of each link's and form's uses
        SELECT j.*, row_number() OVER (PARTITION BY j.account_id, j.link_id, j.form_id ORDER BY j.n) AS place
        FROM judged j WHERE j.verdict = 'open'
    ), chosen AS (
        SELECT r.* FROM ranked r
        WHERE (r.has_link AND r.link_uses + r.place <= r.link_max) OR (r.has_form AND (r.form_max IS NULL OR r.form_uses + r.place <= r.form_max))
    ), inserted AS (
        INSERT INTO payments (account_id, id, status, amount, currency, description, payment_link_id, single_use_link_id, attempt_token, email,
                              payment_form_id, custom_fields, attempt_id, issuer_id, payment_method_id, card_brand, card_last4,
                              card_exp_month, card_exp_year, card_fingerprint, cardholder_name, processing_started_at)
        SELECT c.account_id, c.payment_id, 'processing',
               CASE WHEN c.has_link THEN c.link_amount ELSE c.amount END, CASE WHEN c.has_link THEN c.link_currency ELSE c.currency END,
               CASE WHEN c.has_link THEN c.link_description ELSE c.description END,
               nullif(c.link_id, ''), CASE WHEN c.link_max = 1 THEN c.link_id END, c.token, nullif(c.email, ''), nullif(c.form_id, ''),
               c.answers::jsonb, c.attempt_id, c.issuer_id, c.method_id, c.brand, c.last4, c.exp_month, c.exp_year, c.fingerprint,
               c.holder, now()
        FROM chosen c ORDER BY c.n
        ON CONFLICT DO NOTHING
        RETURNING account_id, id
    ), in_flight AS (
        INSERT INTO payments_in_flight (account_id, payment_id, started_at) SELECT account_id, id, now() FROM inserted
    ), logged AS (
        INSERT INTO payment_events (account_id, id, payment_id, type, data)
        SELECT c.account_id, e.id, c.payment_id, e.type, e.data::jsonb
        FROM chosen c JOIN inserted ins ON ins.account_id = c.account_id AND ins.id = c.payment_id,
             LATERAL (VALUES (1, c.created_event, 'payment.created', c.created_data),
                             (2, c.processing_event, 'payment.processing', c.processing_data)) AS e (k, id, type, data)
        ORDER BY c.n, e.k
    ), link_uses AS (
        UPDATE payment_links l SET uses = l.uses + u.k
        FROM (SELECT c.account_id, c.link_id, count(*) AS k FROM chosen c JOIN inserted ins ON ins.account_id = c.account_id AND ins.id = c.payment_id
              WHERE c.has_link GROUP BY c.account_id, c.link_id) u
        WHERE l.account_id = u.account_id AND l.id = u.link_id AND l.id = ANY (p_link)
    ), form_uses AS (
        UPDATE payment_forms f SET uses = f.uses + u.k
        FROM (SELECT c.account_id, c.form_id, count(*) AS k FROM chosen c JOIN inserted ins ON ins.account_id = c.account_id AND ins.id = c.payment_id
              WHERE c.has_form GROUP BY c.account_id, c.form_id) u
        WHERE f.account_id = u.account_id AND f.id = u.form_id AND f.id = ANY (p_form)
    )
    SELECT s.n::integer,
        CASE
            WHEN s.earlier_payment IS NOT NULL THEN 'replay'
            WHEN j.verdict <> 'open' THEN j.verdict
            WHEN ins.id IS NOT NULL AND s.n = s.first_n THEN 'started'
            WHEN ins.id IS NOT NULL THEN 'replay'
            WHEN c.payment_id IS NOT NULL THEN 'conflict'
            WHEN s.link_id <> '' THEN 'used_up'
            ELSE 'closed'
        END,
        coalesce(s.earlier_payment, ins.id)
    FROM subject s
    JOIN judged j ON j.account_id = s.account_id AND j.token = s.token
    LEFT JOIN chosen c ON c.account_id = s.account_id AND c.token = s.token
    LEFT JOIN inserted ins ON ins.account_id = c.account_id AND ins.id = c.payment_id
    ORDER BY s.n;
END $$;

-- Finish: `processing` → `succeeded` (approved) or `failed` (declined, with its failure code) and
-- its event; it leaves the payments in flight; a failure gives its link's or form's use back (and a
-- single-use link's hold). Per item:
--   moved       this item moved the payment
--   unchanged   the payment was not `processing` (already finished by an earlier item or another
--               process, or never there): `status` says where it is, NULL when there is no such payment
CREATE FUNCTION checkout_finish(
    p_account text[], p_payment text[], p_approved boolean[], p_failure text[], p_event text[], p_data text[]
) RETURNS TABLE (item integer, outcome text, status text, failure_code text, created_at timestamptz, updated_at timestamptz)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    -- Index probes only, as in checkout_start.
    PERFORM 1 FROM payment_links l
    WHERE l.id = ANY (ARRAY(
        SELECT p.payment_link_id FROM unnest(p_account, p_payment, p_approved) AS x (a, k, ok),
        LATERAL (SELECT payment_link_id FROM payments WHERE account_id = x.a AND id = x.k) p
        WHERE NOT x.ok AND p.payment_link_id IS NOT NULL))
      AND l.account_id = ANY (p_account)
    ORDER BY l.account_id, l.id FOR UPDATE;
    PERFORM 1 FROM payment_forms f
    WHERE f.id = ANY (ARRAY(
        SELECT p.payment_form_id FROM unnest(p_account, p_payment, p_approved) AS x (a, k, ok),
        LATERAL (SELECT payment_form_id FROM payments WHERE account_id = x.a AND id = x.k) p
        WHERE NOT x.ok AND p.payment_form_id IS NOT NULL))
      AND f.account_id = ANY (p_account)
    ORDER BY f.account_id, f.id FOR UPDATE;
    PERFORM 1 FROM payments p
    WHERE p.id = ANY (p_payment) AND p.account_id = ANY (p_account)
    ORDER BY p.account_id, p.id FOR UPDATE;
    RETURN QUERY
    WITH i AS (
        SELECT * FROM unnest(p_account, p_payment, p_approved, p_failure, p_event, p_data) WITH ORDINALITY
            AS t (account_id, payment_id, approved, failure, event_id, data, n)
    ), firsts AS (
        SELECT DISTINCT ON (i.account_id, i.payment_id) i.* FROM i ORDER BY i.account_id, i.payment_id, i.n
    ), moved AS (
        UPDATE payments p SET status = CASE WHEN f.approved THEN 'succeeded' ELSE 'failed' END,
                              failure_code = CASE WHEN f.approved THEN NULL ELSE f.failure END,
                              single_use_link_id = CASE WHEN f.approved THEN p.single_use_link_id END
        FROM firsts f WHERE p.id = f.payment_id AND p.account_id = f.account_id AND p.status = 'processing'
          AND p.id = ANY (p_payment) AND p.account_id = ANY (p_account)
        RETURNING p.account_id, p.id, p.status, p.failure_code, p.payment_link_id, p.payment_form_id, p.updated_at
    ), landed AS (
        DELETE FROM payments_in_flight w USING moved m WHERE w.account_id = m.account_id AND w.payment_id = m.id
    ), logged AS (
        INSERT INTO payment_events (account_id, id, payment_id, type, data)
        SELECT m.account_id, f.event_id, m.id, CASE WHEN f.approved THEN 'payment.succeeded' ELSE 'payment.failed' END, f.data::jsonb
        FROM moved m JOIN firsts f ON f.account_id = m.account_id AND f.payment_id = m.id
        ORDER BY f.n
    ), links_back AS (
        UPDATE payment_links l SET uses = greatest(l.uses - b.k, 0)
        FROM (SELECT m.account_id, m.payment_link_id, count(*) AS k FROM moved m WHERE m.status = 'failed' AND m.payment_link_id IS NOT NULL
              GROUP BY m.account_id, m.payment_link_id) b
        WHERE l.account_id = b.account_id AND l.id = b.payment_link_id
    ), forms_back AS (
        UPDATE payment_forms f SET uses = greatest(f.uses - b.k, 0)
        FROM (SELECT m.account_id, m.payment_form_id, count(*) AS k FROM moved m WHERE m.status = 'failed' AND m.payment_form_id IS NOT NULL
              GROUP BY m.account_id, m.payment_form_id) b
        WHERE f.account_id = b.account_id AND f.id = b.payment_form_id
    )
    SELECT i.n::integer,
           CASE WHEN m.id IS NOT NULL AND fi.n = i.n THEN 'moved' ELSE 'unchanged' END,
           coalesce(m.status, p.status), CASE WHEN m.id IS NOT NULL THEN m.failure_code ELSE p.failure_code END,
           p.created_at, coalesce(m.updated_at, p.updated_at)
    FROM i
    JOIN firsts fi ON fi.account_id = i.account_id AND fi.payment_id = i.payment_id
    LEFT JOIN moved m ON m.account_id = i.account_id AND m.id = i.payment_id
    LEFT JOIN LATERAL (
        SELECT p.status, p.failure_code, p.created_at, p.updated_at FROM payments p WHERE p.account_id = i.account_id AND p.id = i.payment_id
    ) p ON true
    ORDER BY i.n;
END $$;

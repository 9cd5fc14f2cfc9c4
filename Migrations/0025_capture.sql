-- Authorize now, capture later (Stripe's capture_method). A link or a form may say `manual`: its
-- checkout stops at `authorized` (the issuer approved, the money is held), and the merchant then
-- captures all or part of it (`succeeded`, with the captured amount; the rest is released) or
-- voids it (`canceled`, which gives the link's or form's use back like a decline). Nothing moves in
-- the ledger before the capture: its `payment.succeeded` carries the captured amount.

ALTER TABLE payment_links ADD COLUMN capture_method text NOT NULL DEFAULT 'automatic' CHECK (capture_method IN ('automatic', 'manual'));
ALTER TABLE payment_forms ADD COLUMN capture_method text NOT NULL DEFAULT 'automatic' CHECK (capture_method IN ('automatic', 'manual'));
ALTER TABLE payments ADD COLUMN capture_method text NOT NULL DEFAULT 'automatic' CHECK (capture_method IN ('automatic', 'manual'));
-- When the issuer approved a manual payment, and what it approved (set at capture, when `amount`
-- becomes what was captured).
ALTER TABLE payments ADD COLUMN authorized_at timestamptz;
ALTER TABLE payments ADD COLUMN amount_authorized bigint CHECK (amount_authorized > 0);
ALTER TABLE payments ADD CONSTRAINT payments_captured_within_authorized CHECK (amount_authorized IS NULL OR amount <= amount_authorized);

ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check CHECK (status IN (
    'requires_payment', 'processing', 'authorized', 'succeeded', 'failed', 'canceled', 'expired', 'partially_refunded', 'refunded'));
ALTER TABLE payments ADD CONSTRAINT payments_authorized_is_manual CHECK (status <> 'authorized' OR (capture_method = 'manual' AND authorized_at IS NOT NULL));

-- A single-use link's one live payment may be an authorized one.
ALTER TABLE payments DROP CONSTRAINT payments_single_use_held_while_live;
ALTER TABLE payments ADD CONSTRAINT payments_single_use_held_while_live
    CHECK (single_use_link_id IS NULL OR status IN ('processing', 'authorized', 'succeeded', 'partially_refunded', 'refunded'));
-- The void worker's queue: authorizations past their days.
CREATE INDEX payments_authorized_idx ON payments (authorized_at) WHERE status = 'authorized';

-- The state machine gains authorized; the amount changes once, down, at capture.
CREATE OR REPLACE FUNCTION payments_guard_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id <> OLD.id OR NEW.account_id <> OLD.account_id OR NEW.currency <> OLD.currency OR NEW.amount_refunded < OLD.amount_refunded
        OR (NEW.amount <> OLD.amount AND NOT (OLD.status = 'authorized' AND NEW.status = 'succeeded' AND NEW.amount < OLD.amount
                                              AND NEW.amount_authorized = OLD.amount)) THEN
        RAISE EXCEPTION 'payment %: id, account, amount and currency never change (but a capture of less than authorized); refunds only grow', OLD.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_immutable_fields';
    END IF;
    IF NEW.status <> OLD.status AND NOT (OLD.status || '>' || NEW.status) = ANY (ARRAY[
        'requires_payment>processing', 'requires_payment>canceled', 'requires_payment>expired',
        'processing>succeeded', 'processing>failed', 'processing>authorized',
        'authorized>succeeded', 'authorized>canceled',
        'succeeded>partially_refunded', 'succeeded>refunded', 'partially_refunded>refunded'
    ]) THEN
        RAISE EXCEPTION 'payment %: % cannot become %', OLD.id, OLD.status, NEW.status
            USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_legal_transition';
    END IF;
    NEW.updated_at := now();
    RETURN NEW;
END $$;

ALTER TABLE payment_events DROP CONSTRAINT payment_events_type_known;
ALTER TABLE payment_events ADD CONSTRAINT payment_events_type_known CHECK (type IN (
    'payment.created', 'payment.processing', 'payment.authorized', 'payment.captured', 'payment.succeeded', 'payment.failed',
    'payment.refunded', 'payment.canceled', 'payment.expired', 'payment_link.expired', 'settlement.paid'
));

CREATE OR REPLACE FUNCTION checkout_start(
    p_account text[], p_link text[], p_form text[], p_payment text[], p_amount bigint[], p_currency text[], p_description text[],
    p_token text[], p_email text[], p_answers text[], p_attempt text[], p_issuer text[], p_method text[], p_brand text[],
    p_last4 text[], p_exp_month integer[], p_exp_year integer[], p_fingerprint text[], p_holder text[],
    p_created_event text[], p_created_data text[], p_processing_event text[], p_processing_data text[], p_realm text[]
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
                             p_created_event, p_created_data, p_processing_event, p_processing_data, p_realm) WITH ORDINALITY
            AS t (account_id, link_id, form_id, payment_id, amount, currency, description, token, email, answers, attempt_id, issuer_id,
                  method_id, brand, last4, exp_month, exp_year, fingerprint, holder, created_event, created_data, processing_event,
                  processing_data, realm, n)
    ), subject AS (
        SELECT i.*, min(i.n) OVER (PARTITION BY i.account_id, i.token) AS first_n, earlier.id AS earlier_payment,
               l.id IS NOT NULL AS has_link, l.amount AS link_amount, l.currency AS link_currency, l.description AS link_description,
               l.revoked_at, l.expires_at AS link_expires, l.uses AS link_uses, l.max_uses AS link_max, l.payment_method_ids,
               f.id IS NOT NULL AS has_form, f.archived_at, f.expires_at AS form_expires, f.uses AS form_uses, f.max_uses AS form_max,
               f.currency AS form_currency, m.id IS NOT NULL AS method_ok,
               CASE WHEN l.id IS NOT NULL THEN l.capture_method ELSE coalesce(f.capture_method, 'automatic') END AS capture
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
                              card_exp_month, card_exp_year, card_fingerprint, cardholder_name, processing_started_at, realm,
                              capture_method)
        SELECT c.account_id, c.payment_id, 'processing',
               CASE WHEN c.has_link THEN c.link_amount ELSE c.amount END, CASE WHEN c.has_link THEN c.link_currency ELSE c.currency END,
               CASE WHEN c.has_link THEN c.link_description ELSE c.description END,
               nullif(c.link_id, ''), CASE WHEN c.link_max = 1 THEN c.link_id END, c.token, nullif(c.email, ''), nullif(c.form_id, ''),
               c.answers::jsonb, c.attempt_id, c.issuer_id, c.method_id, c.brand, c.last4, c.exp_month, c.exp_year, c.fingerprint,
               c.holder, now(), nullif(c.realm, ''), c.capture
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

CREATE OR REPLACE FUNCTION checkout_finish(
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
        UPDATE payments p SET status = CASE WHEN NOT f.approved THEN 'failed' WHEN p.capture_method = 'manual' THEN 'authorized' ELSE 'succeeded' END,
                              failure_code = CASE WHEN f.approved THEN NULL ELSE f.failure END,
                              single_use_link_id = CASE WHEN f.approved THEN p.single_use_link_id END,
                              authorized_at = CASE WHEN f.approved AND p.capture_method = 'manual' THEN now() END
        FROM firsts f WHERE p.id = f.payment_id AND p.account_id = f.account_id AND p.status = 'processing'
          AND p.id = ANY (p_payment) AND p.account_id = ANY (p_account)
        RETURNING p.account_id, p.id, p.status, p.failure_code, p.payment_link_id, p.payment_form_id, p.updated_at
    ), landed AS (
        DELETE FROM payments_in_flight w USING moved m WHERE w.account_id = m.account_id AND w.payment_id = m.id
    ), logged AS (
        INSERT INTO payment_events (account_id, id, payment_id, type, data)
        SELECT m.account_id, f.event_id, m.id,
               CASE m.status WHEN 'authorized' THEN 'payment.authorized' WHEN 'succeeded' THEN 'payment.succeeded' ELSE 'payment.failed' END,
               CASE WHEN m.status = 'authorized' THEN jsonb_set(f.data::jsonb, '{status}', '"authorized"') ELSE f.data::jsonb END
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

-- Risk rules before the issuer (seed 001, 002, 004's fraud check). Each merchant's rules are off
-- until set: a maximum amount, velocity per card fingerprint, payer email and client address per
-- hour (counted in Redis), blocked card countries (the issuer's) and emails or domains, cards marked
-- as fraud, and a score threshold. Every checkout is scored before the issuer is asked; a blocked
-- one ends `failed` with `fraud_suspected` and no issuer call. The start batch keeps the score and
-- the rules that fired on the payment.

ALTER TABLE issuers ADD COLUMN country text NOT NULL DEFAULT 'US' CHECK (country ~ '^[A-Z]{2}$');
UPDATE issuers SET country = v.country
FROM (VALUES ('iss_alpine', 'CH'), ('iss_golden_gate', 'US'), ('iss_gulf_dinar', 'BH'), ('iss_huaxia', 'CN'),
             ('iss_liberty_national', 'US'), ('iss_maple_trust', 'CA'), ('iss_nordlys', 'NO'), ('iss_pacific_express', 'AU'),
             ('iss_rheinland', 'DE'), ('iss_sakura', 'JP'), ('iss_thames', 'GB')) AS v (id, country)
WHERE issuers.id = v.id;

CREATE TABLE risk_rules (
    account_id               text PRIMARY KEY REFERENCES accounts (id),
    max_amount               bigint CHECK (max_amount BETWEEN 1 AND 999999999999),
    velocity_card_per_hour   integer CHECK (velocity_card_per_hour BETWEEN 1 AND 10000),
    velocity_email_per_hour  integer CHECK (velocity_email_per_hour BETWEEN 1 AND 10000),
    velocity_ip_per_hour     integer CHECK (velocity_ip_per_hour BETWEEN 1 AND 10000),
    blocked_countries        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(blocked_countries) <= 250),
    blocked_emails           text[] NOT NULL DEFAULT '{}' CHECK (cardinality(blocked_emails) <= 1000),
    -- Fingerprints (keyed hashes) of cards a merchant marked as fraud; never a number.
    blocked_cards            text[] NOT NULL DEFAULT '{}' CHECK (cardinality(blocked_cards) <= 10000),
    score_threshold          integer CHECK (score_threshold BETWEEN 1 AND 100),
    updated_at               timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE payments ADD COLUMN risk_score integer CHECK (risk_score BETWEEN 0 AND 100);
ALTER TABLE payments ADD COLUMN risk_rules text[] NOT NULL DEFAULT '{}';

DROP FUNCTION checkout_start(text[], text[], text[], text[], bigint[], text[], text[], text[], text[], text[], text[], text[], text[], text[],
                             text[], integer[], integer[], text[], text[], text[], text[], text[], text[], text[]);

CREATE FUNCTION checkout_start(
    p_account text[], p_link text[], p_form text[], p_payment text[], p_amount bigint[], p_currency text[], p_description text[],
    p_token text[], p_email text[], p_answers text[], p_attempt text[], p_issuer text[], p_method text[], p_brand text[],
    p_last4 text[], p_exp_month integer[], p_exp_year integer[], p_fingerprint text[], p_holder text[],
    p_created_event text[], p_created_data text[], p_processing_event text[], p_processing_data text[], p_realm text[],
    p_risk_score integer[], p_risk_rules text[]
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
                             p_created_event, p_created_data, p_processing_event, p_processing_data, p_realm,
                             p_risk_score, p_risk_rules) WITH ORDINALITY
            AS t (account_id, link_id, form_id, payment_id, amount, currency, description, token, email, answers, attempt_id, issuer_id,
                  method_id, brand, last4, exp_month, exp_year, fingerprint, holder, created_event, created_data, processing_event,
                  processing_data, realm, risk_score, risk_rules, n)
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
                              capture_method, risk_score, risk_rules)
        SELECT c.account_id, c.payment_id, 'processing',
               CASE WHEN c.has_link THEN c.link_amount ELSE c.amount END, CASE WHEN c.has_link THEN c.link_currency ELSE c.currency END,
               CASE WHEN c.has_link THEN c.link_description ELSE c.description END,
               nullif(c.link_id, ''), CASE WHEN c.link_max = 1 THEN c.link_id END, c.token, nullif(c.email, ''), nullif(c.form_id, ''),
               c.answers::jsonb, c.attempt_id, c.issuer_id, c.method_id, c.brand, c.last4, c.exp_month, c.exp_year, c.fingerprint,
               c.holder, now(), nullif(c.realm, ''), c.capture, c.risk_score, coalesce(string_to_array(nullif(c.risk_rules, ''), ','), '{}')
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

-- The history page's totals per currency, kept as they change instead of summed over every
-- payment of the merchant on every page view (37 ms for 10,000 payments in `make bench`, and
-- growing with the merchant). One row per account, UTC day of creation, currency, status and
-- shard holds how many payments are there and the sums of their amounts and refunds.
--
-- PostgreSQL keeps it, in the same transaction as the payment's change: a deferred trigger adds
-- the payment's new row and takes its old one away at COMMIT, so no code path can forget it and the
-- totals are exactly as consistent as the payments. Deferred, because a checkout's transaction then
-- holds the totals row only for its commit, as the link's use counter. Eight shards per day and
-- status (by the payment id's last character) let eight checkouts of one merchant commit at once.
CREATE TABLE payment_totals (
    account_id  text NOT NULL,
    day         date NOT NULL,
    currency    text NOT NULL,
    status      text NOT NULL,
    shard       smallint NOT NULL,
    payments    bigint NOT NULL,
    amount      bigint NOT NULL,
    refunded    bigint NOT NULL,
    PRIMARY KEY (account_id, day, currency, status, shard)
);

CREATE FUNCTION payment_totals_add(p payments, sign integer) RETURNS void LANGUAGE sql AS $$
    INSERT INTO payment_totals AS t (account_id, day, currency, status, shard, payments, amount, refunded)
    VALUES (p.account_id, (p.created_at AT TIME ZONE 'UTC')::date, p.currency, p.status, ascii(right(p.id, 1)) % 8,
            sign, sign * p.amount, sign * p.amount_refunded)
    ON CONFLICT (account_id, day, currency, status, shard) DO UPDATE
        SET payments = t.payments + EXCLUDED.payments, amount = t.amount + EXCLUDED.amount, refunded = t.refunded + EXCLUDED.refunded
$$;

CREATE FUNCTION payment_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        PERFORM payment_totals_add(OLD, -1);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM payment_totals_add(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER payment_totals_insert AFTER INSERT OR DELETE ON payments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION payment_totals_apply();

CREATE CONSTRAINT TRIGGER payment_totals_update AFTER UPDATE ON payments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.amount_refunded IS DISTINCT FROM NEW.amount_refunded
          OR OLD.created_at IS DISTINCT FROM NEW.created_at)
    EXECUTE FUNCTION payment_totals_apply();

INSERT INTO payment_totals (account_id, day, currency, status, shard, payments, amount, refunded)
SELECT account_id, (created_at AT TIME ZONE 'UTC')::date, currency, status, ascii(right(id, 1)) % 8,
       count(*), sum(amount), sum(amount_refunded)
FROM payments GROUP BY 1, 2, 3, 4, 5;

-- The history's unfiltered totals from one row per merchant, currency and status, whatever the
-- merchant's age: `payment_totals` keeps them per UTC day (the charts and day filters need that),
-- and summing a million-payment merchant's 1,700 day rows was most of what made its history page
-- slower than a small merchant's. A trigger on `payment_totals` keeps these in step, so any code
-- that moves the day totals (a process still running the release before this file too) moves them.
CREATE TABLE payment_totals_all (
    account_id  text NOT NULL,
    currency    text NOT NULL,
    status      text NOT NULL,
    count       bigint NOT NULL,
    amount      bigint NOT NULL,
    refunded    bigint NOT NULL,
    PRIMARY KEY (account_id, currency, status)
);

CREATE FUNCTION payment_totals_all_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO payment_totals_all AS a (account_id, currency, status, count, amount, refunded)
    VALUES (NEW.account_id, NEW.currency, NEW.status,
            NEW.count - coalesce(OLD.count, 0), NEW.amount - coalesce(OLD.amount, 0), NEW.refunded - coalesce(OLD.refunded, 0))
    ON CONFLICT (account_id, currency, status) DO UPDATE
        SET count = a.count + excluded.count, amount = a.amount + excluded.amount, refunded = a.refunded + excluded.refunded;
    RETURN NULL;
END $$;

-- The day totals are only ever inserted and updated (never deleted) by their consumer.
LOCK TABLE payment_totals IN SHARE ROW EXCLUSIVE MODE;
CREATE TRIGGER payment_totals_all_kept AFTER INSERT OR UPDATE ON payment_totals
    FOR EACH ROW EXECUTE FUNCTION payment_totals_all_follow();
INSERT INTO payment_totals_all (account_id, currency, status, count, amount, refunded)
SELECT account_id, currency, status, sum(count), sum(amount), sum(refunded) FROM payment_totals GROUP BY 1, 2, 3;

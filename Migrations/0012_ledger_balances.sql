-- Each merchant's balance per currency, kept beside the transfers it sums. The dashboard summed
-- every transfer of the merchant instead: a million rows for a merchant with a million payments,
-- on every view. `kassa audit` holds these to the transfers and to the payments.
CREATE TABLE ledger_balances (
    account_id  text NOT NULL REFERENCES accounts (id),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    balance     bigint NOT NULL,
    PRIMARY KEY (account_id, currency)
);

-- Kept by the table itself, not by the consumer: any statement that adds transfers adds their sums
-- here, whichever process or version of Kassa wrote them (a consumer of the version before this
-- one, still running during an upgrade, would otherwise leave the balances behind). Transfers are
-- append-only, so an insert is the only change there is; one upsert per statement, in key order.
CREATE FUNCTION ledger_balances_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ledger_balances AS l (account_id, currency, balance)
    SELECT account_id, currency, sum(CASE WHEN credit = 'merchant_balance' THEN amount ELSE -amount END)
    FROM added GROUP BY account_id, currency ORDER BY account_id, currency
    ON CONFLICT (account_id, currency) DO UPDATE SET balance = l.balance + excluded.balance;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_balances_kept AFTER INSERT ON ledger_transfers
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION ledger_balances_add();

-- Creating the trigger locked out inserts into the transfers until this file commits, so the sum
-- below and the trigger's additions never overlap or leave a gap.
INSERT INTO ledger_balances (account_id, currency, balance)
SELECT account_id, currency, sum(CASE WHEN credit = 'merchant_balance' THEN amount ELSE -amount END)
FROM ledger_transfers GROUP BY account_id, currency;

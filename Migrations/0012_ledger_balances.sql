-- Each merchant's balance per currency, kept by the ledger consumer in the statement that writes
-- the transfers it sums. The dashboard summed every transfer of the merchant instead: a million
-- rows for a merchant with a million payments, on every view. `kassa audit` checks these against
-- the transfers and against the payments.
CREATE TABLE ledger_balances (
    account_id  text NOT NULL REFERENCES accounts (id),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    balance     bigint NOT NULL,
    PRIMARY KEY (account_id, currency)
);

-- Filled from the transfers while the ledger consumer's cursor is held, so no pass of a running
-- server adds transfers between the sum and the table (a pass takes the cursor with SKIP LOCKED,
-- and finds nothing to do until this commits).
SELECT 1 FROM event_consumers WHERE name = 'ledger' FOR UPDATE;
INSERT INTO ledger_balances (account_id, currency, balance)
SELECT account_id, currency, sum(CASE WHEN credit = 'merchant_balance' THEN amount ELSE -amount END)
FROM ledger_transfers GROUP BY account_id, currency;

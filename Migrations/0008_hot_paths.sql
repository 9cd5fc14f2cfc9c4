-- Issue 8: what the checkout benchmark showed.
--
-- 1. Every insert into a table with a foreign key to accounts takes a KEY SHARE lock on the
--    merchant's one accounts row. With dozens of checkouts of one merchant in flight, PostgreSQL
--    has to build a new MultiXact for that row on every insert, and the checkouts queued on it
--    (wait events "tuple" and "transactionid"). Events and ledger entries already reference their
--    payment by (account_id, payment_id), and the payment references the account, so their own
--    foreign key to accounts added nothing but that lock. Outbox rows are written in the same
--    transaction as an event of the same account (core code only) and deleted by nothing that
--    depends on the account. Payments keep theirs: one KEY SHARE per checkout, not eight.
ALTER TABLE payment_events DROP CONSTRAINT payment_events_account_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_account_id_fkey;
ALTER TABLE outbox DROP CONSTRAINT outbox_account_id_fkey;

-- 2. The outbox workers claim the oldest pending rows (ORDER BY id LIMIT n): with this index
--    they read the first n pending rows instead of sorting every pending row under load.
DROP INDEX outbox_pending_idx;
CREATE INDEX outbox_pending_idx ON outbox (topic, id) WHERE processed_at IS NULL;

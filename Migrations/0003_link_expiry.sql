-- Link expiry as an event: the expiry worker marks a link expired once, writes a
-- `payment_link.expired` event and hands it to the outbox in the same transaction.

ALTER TABLE payment_links ADD COLUMN expired_at timestamptz;

-- Events may now belong to a link instead of a payment.
ALTER TABLE payment_events ALTER COLUMN payment_id DROP NOT NULL;
ALTER TABLE payment_events ADD COLUMN payment_link_id text;
ALTER TABLE payment_events ADD CONSTRAINT payment_events_subject CHECK (payment_id IS NOT NULL OR payment_link_id IS NOT NULL);
ALTER TABLE payment_events ADD CONSTRAINT payment_events_link_fkey
    FOREIGN KEY (account_id, payment_link_id) REFERENCES payment_links (account_id, id);

-- The expiry worker's queue, across merchants.
CREATE INDEX payment_links_due_idx ON payment_links (expires_at) WHERE expired_at IS NULL AND revoked_at IS NULL;

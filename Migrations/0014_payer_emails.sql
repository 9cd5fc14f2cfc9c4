-- Emails to payers who gave an address at checkout: a receipt when their payment succeeds, a notice
-- when it is refunded. Written by the notifications consumer in its pass, one per event (a repeated
-- pass writes nothing twice), only while Kassa sends email; sent by the email worker under a
-- two-minute lease, retried for a day, like the merchants' notification emails.

CREATE TABLE payer_emails (
    account_id  text NOT NULL,
    event_id    text NOT NULL,
    payment_id  text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('receipt', 'refund')),
    email       text NOT NULL CHECK (length(email) BETWEEN 3 AND 254 AND position('@' IN email) > 1),
    -- The payment's amount for a receipt, the refund's for a notice; in the payment's currency.
    amount      bigint NOT NULL CHECK (amount > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempt_at  timestamptz,
    sent_at     timestamptz,
    PRIMARY KEY (account_id, event_id),
    FOREIGN KEY (account_id, payment_id) REFERENCES payments (account_id, id)
);

CREATE INDEX payer_emails_due_idx ON payer_emails (created_at) WHERE sent_at IS NULL;

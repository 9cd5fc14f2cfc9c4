-- Email notifications: which events each person wants by email, and what was emailed.

ALTER TABLE users ADD COLUMN email_events text[] NOT NULL
    DEFAULT '{payment.succeeded,payment.failed,payment.refunded,payment_link.expired,webhook_endpoint.disabled}';

ALTER TABLE notifications ADD COLUMN emailed_at timestamptz;
-- A lease: the process sending it; another may take over when it is old.
ALTER TABLE notifications ADD COLUMN email_attempt_at timestamptz;

CREATE INDEX notifications_email_due_idx ON notifications (created_at) WHERE emailed_at IS NULL;

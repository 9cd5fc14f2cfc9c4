-- The event log's types are a closed set (PaymentCore's EventType, whose switches have no
-- `default:`): a row of any other type would stop every consumer of the log, so the table refuses it.
ALTER TABLE payment_events ADD CONSTRAINT payment_events_type_known CHECK (type IN (
    'payment.created', 'payment.processing', 'payment.succeeded', 'payment.failed',
    'payment.refunded', 'payment.canceled', 'payment.expired', 'payment_link.expired'
));

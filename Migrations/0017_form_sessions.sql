-- A form may take payments only through signed checkout sessions: the amount a merchant's own
-- page fixed cannot then be dropped by opening the form without its session.

ALTER TABLE payment_forms ADD COLUMN requires_session boolean NOT NULL DEFAULT false;

-- The largest amount a publishable key (public, in a web page's source) may create a payment link
-- or a checkout session for, in whole units of the link's currency (500 = €500.00 or ¥500).
-- NULL: no limit beyond the server's maximum, as before.

ALTER TABLE accounts ADD COLUMN publishable_limit bigint CHECK (publishable_limit BETWEEN 1 AND 999999999);

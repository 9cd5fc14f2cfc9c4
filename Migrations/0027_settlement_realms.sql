-- Settlements split by realm (an account setting, off by default): a merchant selling on several
-- sites gets one settlement per UTC day, currency and site; payments without a realm share one.

ALTER TABLE accounts ADD COLUMN settle_by_realm boolean NOT NULL DEFAULT false;
ALTER TABLE settlements ADD COLUMN realm text CHECK (realm ~ '^[A-Za-z0-9._-]{1,64}$');
ALTER TABLE settlements DROP CONSTRAINT settlements_account_id_currency_day_key;
CREATE UNIQUE INDEX settlements_day_key ON settlements (account_id, currency, day, coalesce(realm, ''));

-- The dashboard asks whether any of the merchant's live links run out within three days, on every
-- view (`LinksExpiringSoon`). With no index on (account_id, expires_at), PostgreSQL's generic plan
-- for the prepared statement, which it takes after five views, read the whole table: a merchant
-- with no links paid 3 ms of PostgreSQL per dashboard view for another merchant's 7,192 links
-- (`make bench`, 2026-12-03: 2.8 ms of PostgreSQL per view at a million payments, against 0.6 ms
-- with this index). Ranged on the expiry within the account, every plan reads only what it shows.
CREATE INDEX payment_links_expiring_idx ON payment_links (account_id, expires_at) WHERE revoked_at IS NULL;

-- The time zone a merchant reads times in on their pages (an IANA name such as Europe/Berlin).
-- Exports, the API and payers' pages stay in UTC.

ALTER TABLE accounts ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
    CHECK (length(time_zone) BETWEEN 1 AND 64 AND time_zone ~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$');

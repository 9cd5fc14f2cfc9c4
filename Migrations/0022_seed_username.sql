-- Seed 004's account API: `POST /users {username, email, date, password}`. The username is the
-- person's display name, unique on this Kassa whatever its case; the date is what the client
-- declares as the sign-up date, kept for information only.

ALTER TABLE users ADD COLUMN username text CHECK (username ~ '^[A-Za-z0-9._-]{3,40}$');
ALTER TABLE users ADD COLUMN declared_signup_date date;

CREATE UNIQUE INDEX users_username_key ON users (lower(username));

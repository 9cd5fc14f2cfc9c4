-- A person may belong to more than one business: the role, and which events they want by
-- email, belong to the membership (person × account), not to the person. users.account_id stays
-- as the business a sign-in opens (the one chosen last); it always names one of the person's
-- memberships, and a person with none is deleted with their last membership.

CREATE TABLE memberships (
    account_id    text NOT NULL REFERENCES accounts (id),
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('viewer', 'developer', 'admin', 'owner')),
    email_events  text[] NOT NULL
        DEFAULT '{payment.succeeded,payment.failed,payment.refunded,payment_link.expired,webhook_endpoint.disabled}',
    joined_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, user_id)
);

-- A person's businesses, in the order they joined them (the switcher, sign-in's fallback).
CREATE INDEX memberships_user_idx ON memberships (user_id, joined_at);

INSERT INTO memberships (account_id, user_id, role, email_events, joined_at)
SELECT account_id, id, role, email_events, created_at FROM users;

ALTER TABLE users DROP COLUMN role;
ALTER TABLE users DROP COLUMN email_events;

-- The account a sign-in opens is one the person belongs to.
ALTER TABLE users ADD CONSTRAINT users_home_is_a_membership
    FOREIGN KEY (account_id, id) REFERENCES memberships (account_id, user_id) DEFERRABLE INITIALLY DEFERRED;

-- What the outbox workers produce: in-app notifications and webhook deliveries with their log.

CREATE TABLE notifications (
    account_id  text NOT NULL REFERENCES accounts (id),
    id          text NOT NULL CHECK (id ~ '^ntf_[0-9A-Za-z]{24}$'),
    event_id    text NOT NULL,
    type        text NOT NULL,
    title       text NOT NULL,
    body        text NOT NULL,
    link        text,
    read_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    -- One notification per event, however often the outbox row is retried.
    UNIQUE (account_id, event_id)
);

CREATE INDEX notifications_account_idx ON notifications (account_id, created_at DESC, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (account_id) WHERE read_at IS NULL;

CREATE TABLE webhook_endpoints (
    account_id               text NOT NULL REFERENCES accounts (id),
    id                       text NOT NULL CHECK (id ~ '^we_[0-9A-Za-z]{24}$'),
    url                      text NOT NULL CHECK (length(url) <= 2000),
    events                   text[] NOT NULL CHECK (cardinality(events) > 0),
    -- whsec_ secrets, AES-GCM sealed with a key derived from KASSA_SECRET_KEY.
    secret_sealed            text NOT NULL,
    previous_secret_sealed   text,
    previous_secret_until    timestamptz,
    status                   text NOT NULL DEFAULT 'enabled' CHECK (status IN ('enabled', 'disabled')),
    disabled_reason          text,
    created_at               timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id)
);

CREATE TABLE webhook_deliveries (
    account_id        text NOT NULL REFERENCES accounts (id),
    id                text NOT NULL CHECK (id ~ '^wd_[0-9A-Za-z]{24}$'),
    endpoint_id       text NOT NULL,
    event_id          text NOT NULL,
    event_type        text NOT NULL,
    payload           text NOT NULL,
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, endpoint_id, event_id),
    FOREIGN KEY (account_id, endpoint_id) REFERENCES webhook_endpoints (account_id, id) ON DELETE CASCADE
);

-- The delivery worker's queue, across merchants.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (account_id, endpoint_id, created_at DESC);

-- Every attempt: the delivery log.
CREATE TABLE webhook_attempts (
    account_id        text NOT NULL,
    id                bigint GENERATED ALWAYS AS IDENTITY,
    delivery_id       text NOT NULL,
    attempted_at      timestamptz NOT NULL DEFAULT now(),
    response_status   integer,
    duration_ms       integer NOT NULL,
    response_excerpt  text,
    error             text,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, delivery_id) REFERENCES webhook_deliveries (account_id, id) ON DELETE CASCADE
);

CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (account_id, delivery_id, attempted_at);

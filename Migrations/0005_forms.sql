-- Business payment forms that merchants embed on their own sites.

CREATE TABLE payment_forms (
    account_id       text NOT NULL REFERENCES accounts (id),
    id               text NOT NULL CHECK (id ~ '^form_[0-9A-Za-z]{24}$'),
    title            text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    description      text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    currency         text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    -- A fixed amount, or the payer chooses between min_amount and max_amount.
    amount           bigint CHECK (amount > 0),
    min_amount       bigint CHECK (min_amount > 0),
    max_amount       bigint,
    -- [{"key": "f1", "label": "...", "kind": "text|email|number|select", "required": bool, "options": [...]}]
    fields           jsonb NOT NULL DEFAULT '[]',
    allowed_origins  text[] NOT NULL DEFAULT '{}',
    redirect_url     text,
    button_label     text NOT NULL DEFAULT 'Pay' CHECK (length(button_label) BETWEEN 1 AND 40),
    brand_color      text NOT NULL DEFAULT '#1f5f8b' CHECK (brand_color ~ '^#[0-9a-f]{6}$'),
    max_uses         integer CHECK (max_uses > 0),
    uses             integer NOT NULL DEFAULT 0,
    expires_at       timestamptz,
    archived_at      timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    CHECK ((amount IS NOT NULL AND min_amount IS NULL AND max_amount IS NULL)
        OR (amount IS NULL AND min_amount IS NOT NULL AND max_amount IS NOT NULL AND min_amount <= max_amount)),
    CONSTRAINT payment_forms_uses_within_max CHECK (uses >= 0 AND (max_uses IS NULL OR uses <= max_uses))
);

CREATE INDEX payment_forms_id_idx ON payment_forms (id);
CREATE INDEX payment_forms_account_created_idx ON payment_forms (account_id, created_at DESC, id DESC);

ALTER TABLE payments ADD COLUMN payment_form_id text;
-- The payer's answers to the form's own fields, in the form's order: [{"label": ..., "value": ...}].
ALTER TABLE payments ADD COLUMN custom_fields jsonb NOT NULL DEFAULT '[]';
ALTER TABLE payments ADD CONSTRAINT payments_form_fkey FOREIGN KEY (account_id, payment_form_id) REFERENCES payment_forms (account_id, id);
CREATE INDEX payments_account_form_idx ON payments (account_id, payment_form_id, created_at DESC) WHERE payment_form_id IS NOT NULL;

-- Billing (DESIGN §2 "Payments", "Auto-recharge"): one billing profile per organization, the
-- payments made through the provider, and the operator tokens inference servers report usage
-- with. Amounts are BIGINT micro-USD; flags are BIGINT 0/1 (no BOOLEAN through sqlx's Any).

CREATE TABLE billing_profiles (
    org_id                   TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    -- The provider's customer (Stripe `cus_…`), created on first need.
    customer_ref             TEXT,
    -- The saved card: a provider reference and what is shown of it. Never the number.
    card_ref                 TEXT,
    card_brand               TEXT,
    card_last4               TEXT,
    card_exp_month           BIGINT,
    card_exp_year            BIGINT,
    -- Postal address for receipts.
    address_name             TEXT,
    address_line1            TEXT,
    address_line2            TEXT,
    address_city             TEXT,
    address_state            TEXT,
    address_postal_code      TEXT,
    -- ISO 3166-1 alpha-2.
    address_country          TEXT,
    auto_recharge_enabled    BIGINT NOT NULL DEFAULT 0 CHECK (auto_recharge_enabled IN (0, 1)),
    auto_recharge_threshold  BIGINT NOT NULL DEFAULT 0,
    auto_recharge_to         BIGINT NOT NULL DEFAULT 0,
    -- Consecutive declined recharges; reset by a successful one or by re-enabling.
    auto_recharge_failures   BIGINT NOT NULL DEFAULT 0,
    -- No recharge before this time (back-off after a decline).
    auto_recharge_next_at    BIGINT,
    updated_at               BIGINT NOT NULL
);
CREATE INDEX billing_profiles_auto_recharge ON billing_profiles (auto_recharge_enabled) WHERE auto_recharge_enabled = 1;

CREATE TABLE payments (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind                TEXT NOT NULL CHECK (kind IN ('purchase', 'auto_recharge', 'subscription')),
    amount              BIGINT NOT NULL CHECK (amount > 0),
    status              TEXT NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    -- The caller's key (an Idempotency-Key header, a renewal period…) and what was asked with
    -- it: the same key with another request is refused.
    idempotency_key     TEXT NOT NULL,
    fingerprint         TEXT NOT NULL,
    -- What was charged, kept so that the reconciler can ask the provider about this very charge.
    customer_ref        TEXT NOT NULL,
    card_ref            TEXT NOT NULL,
    payment_method      TEXT NOT NULL,
    provider_payment_id TEXT,
    failure_code        TEXT,
    failure_message     TEXT,
    -- The credit the payment buys (a grant source), NULL for subscriptions.
    grant_source        TEXT,
    grant_id            TEXT,
    description         TEXT NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    settled_at          BIGINT,
    UNIQUE (org_id, idempotency_key)
);
CREATE INDEX payments_by_org ON payments (org_id, created_at);
CREATE INDEX payments_pending ON payments (updated_at) WHERE status = 'pending';
CREATE INDEX payments_by_provider_id ON payments (provider_payment_id);
-- Exactly one auto-recharge in flight per organization, whatever the number of processes.
CREATE UNIQUE INDEX payments_one_recharge_in_flight ON payments (org_id)
    WHERE kind = 'auto_recharge' AND status = 'pending';

CREATE TABLE operator_tokens (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    -- SHA-256 of the token, hex; the token itself is shown once.
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

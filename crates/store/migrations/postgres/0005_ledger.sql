-- The credit ledger (DESIGN §2). Amounts are BIGINT micro-USD.
--
-- credit_accounts holds one row per organization so that balance and available amount are read
-- in O(1): balance = Σ ledger entries = Σ grants' remaining − debt; held = Σ live holds.
-- Every write to an organization's credit first updates its account row, which serialises
-- concurrent writers of one organization on PostgreSQL (row lock) as BEGIN IMMEDIATE does on
-- SQLite.

CREATE TABLE credit_accounts (
    org_id     TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    balance    BIGINT NOT NULL DEFAULT 0,
    held       BIGINT NOT NULL DEFAULT 0,
    -- Usage no grant covered (balance below zero); paid off first by the next grant.
    debt       BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);

CREATE TABLE credit_grants (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    category     TEXT NOT NULL CHECK (category IN ('paid', 'promotional')),
    source       TEXT NOT NULL CHECK (source IN ('purchase', 'auto_recharge', 'promotion', 'refund', 'adjustment')),
    amount       BIGINT NOT NULL CHECK (amount > 0),
    remaining    BIGINT NOT NULL CHECK (remaining >= 0),
    effective_at BIGINT NOT NULL,
    expires_at   BIGINT,
    reference    TEXT,
    description  TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX credit_grants_by_org ON credit_grants (org_id, created_at);
CREATE INDEX credit_grants_open ON credit_grants (org_id, expires_at) WHERE remaining > 0;

CREATE TABLE ledger_entries (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('grant', 'usage', 'expiry')),
    amount          BIGINT NOT NULL,
    balance_after   BIGINT NOT NULL,
    idempotency_key TEXT NOT NULL,
    grant_id        TEXT,
    reference       TEXT,
    created_at      BIGINT NOT NULL,
    UNIQUE (org_id, idempotency_key)
);

CREATE TABLE credit_holds (
    id         TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    amount     BIGINT NOT NULL CHECK (amount > 0),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX credit_holds_by_expiry ON credit_holds (expires_at);

-- One row per usage record, the record id making reports idempotent. Compact on purpose.
CREATE TABLE usage_records (
    id                  TEXT PRIMARY KEY,
    org_id              TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    project_id          TEXT NOT NULL,
    key_id              TEXT NOT NULL,
    model               TEXT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    cost                BIGINT NOT NULL,
    plan                TEXT NOT NULL CHECK (plan IN ('payg', 'subscription')),
    status              TEXT NOT NULL,
    latency_ms          BIGINT,
    occurred_at         BIGINT NOT NULL,
    recorded_at         BIGINT NOT NULL
);
CREATE INDEX usage_records_by_org ON usage_records (org_id, occurred_at);

-- Subscriptions (DESIGN §2 "Subscriptions"): one tier of one model per organization, billed
-- monthly. Times are BIGINT Unix milliseconds; flags are BIGINT 0/1.

CREATE TABLE subscriptions (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    model                TEXT NOT NULL,
    tier                 TEXT NOT NULL,
    status               TEXT NOT NULL CHECK (status IN ('incomplete', 'active', 'past_due', 'canceled')),
    -- Periods are calendar months counted from the anchor: period n runs from anchor + n months
    -- to anchor + n + 1 months (so a subscription started on the 31st keeps renewing on the 31st).
    anchor_at            BIGINT NOT NULL,
    period_index         BIGINT NOT NULL,
    current_period_start BIGINT NOT NULL,
    current_period_end   BIGINT NOT NULL,
    -- A cheaper tier taking effect at the period end; its seat is already held.
    pending_tier         TEXT,
    cancel_at_period_end BIGINT NOT NULL DEFAULT 0,
    -- Failed renewal retries made in the current period, and when the next one is due.
    renewal_retries      BIGINT NOT NULL DEFAULT 0,
    next_retry_at        BIGINT,
    -- A renewal in progress: the worker holding it and until when (a lease: a crashed worker's
    -- claim runs out and another takes the renewal over, with the same idempotency key).
    renewal_claim        TEXT,
    renewal_claimed_until BIGINT,
    -- A charge in progress for this subscription (its first payment or an upgrade): what is
    -- charged, under which idempotency key, and for which tier. Finished by the request that
    -- started it or, after a crash, by the renewal job with the same key.
    op_key               TEXT,
    op_tier              TEXT,
    op_amount            BIGINT,
    op_started_at        BIGINT,
    canceled_at          BIGINT,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL
);
-- One live subscription per model per organization.
CREATE UNIQUE INDEX subscriptions_one_per_model ON subscriptions (org_id, model) WHERE status <> 'canceled';
CREATE INDEX subscriptions_by_org ON subscriptions (org_id, created_at);
CREATE INDEX subscriptions_due ON subscriptions (current_period_end) WHERE status <> 'canceled';

-- Per tier: the seats taken (live subscriptions on it, plus downgrades waiting for it), and
-- the operator's sold-out override (NULL: as the catalog says). A seat is taken by one guarded
-- UPDATE (`taken < capacity`), so concurrent subscribers can never exceed the capacity.
CREATE TABLE tier_state (
    model            TEXT NOT NULL,
    tier             TEXT NOT NULL,
    taken            BIGINT NOT NULL DEFAULT 0 CHECK (taken >= 0),
    sold_out_override BIGINT,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (model, tier)
);

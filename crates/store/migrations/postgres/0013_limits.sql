-- Rate limits and spend limits (DESIGN §2 "Usage and rate limits"; docs/limits.md and
-- docs/decisions/0014-rate-limit-leases.md). Limits are BIGINT counts per window; NULL: the
-- dimension is not set here (the tier's or the catalog's value applies). Times are BIGINT Unix
-- milliseconds, money BIGINT micro-USD.

-- An operator's override of one organization's limits for one model (`tollgate admin limits`).
CREATE TABLE org_model_limits (
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    model      TEXT NOT NULL,
    rpm        BIGINT,
    rph        BIGINT,
    rpd        BIGINT,
    tpm        BIGINT,
    tph        BIGINT,
    tpd        BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (org_id, model)
);

-- A project's own limits for one model, set by org admins; never enforced above the
-- organization's.
CREATE TABLE project_model_limits (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    org_id     TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    model      TEXT NOT NULL,
    rpm        BIGINT,
    rph        BIGINT,
    rpd        BIGINT,
    tpm        BIGINT,
    tph        BIGINT,
    tpd        BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, model)
);
CREATE INDEX project_model_limits_by_org ON project_model_limits (org_id);

-- The shared state of each rate bucket: its level in unit·milliseconds as of `updated_at`.
-- Processes lease slices of it with a compare-and-swap on `version`, so that every process
-- together admits no more than one bucket would.
CREATE TABLE rate_buckets (
    bucket     TEXT PRIMARY KEY,
    level      BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    version    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX rate_buckets_by_age ON rate_buckets (updated_at);

-- Monthly spend limits of an organization, a project or an API key, with the alert thresholds
-- (percentages, comma-separated) at which org admins are emailed.
CREATE TABLE spend_limits (
    scope          TEXT NOT NULL CHECK (scope IN ('organization', 'project', 'api_key')),
    target_id      TEXT NOT NULL,
    org_id         TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    monthly_limit  BIGINT NOT NULL CHECK (monthly_limit > 0),
    alert_percents TEXT NOT NULL DEFAULT '50,80,100',
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (scope, target_id)
);
CREATE INDEX spend_limits_by_org ON spend_limits (org_id);

-- What each limited scope spent in a calendar month (`period` = 'YYYY-MM', UTC) and what is
-- reserved for requests in flight. A reservation is one guarded UPDATE
-- (`spent + reserved + amount <= limit`), so no number of processes can overshoot.
CREATE TABLE spend_periods (
    scope      TEXT NOT NULL,
    target_id  TEXT NOT NULL,
    period     TEXT NOT NULL,
    spent      BIGINT NOT NULL DEFAULT 0 CHECK (spent >= 0),
    reserved   BIGINT NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (scope, target_id, period)
);

-- Alert emails sent: one per scope, month and threshold.
CREATE TABLE spend_alerts_sent (
    scope     TEXT NOT NULL,
    target_id TEXT NOT NULL,
    period    TEXT NOT NULL,
    percent   BIGINT NOT NULL,
    sent_at   BIGINT NOT NULL,
    PRIMARY KEY (scope, target_id, period, percent)
);

-- The change log names limit changes ('limits'). Its kinds are checked where they are read
-- (`ChangeKind::parse`), so the list is no longer repeated in a CHECK that each new kind would
-- have to replace.
ALTER TABLE change_events DROP CONSTRAINT IF EXISTS change_events_kind_check;

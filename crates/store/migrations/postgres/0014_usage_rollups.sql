-- Usage rollups (issue 13, docs/analytics.md, docs/decisions/0015-usage-rollups.md): sums of
-- usage records kept up to date in the transaction that stores the records, so that analytics
-- never scan raw records. Three grains in one table, a dimension a grain drops holding '':
--   'hour'        per organization, project, key, model, plan and hour (the full detail);
--   'day_project' per organization, project, model, plan and UTC day (key = '');
--   'day'         per organization, model, plan and UTC day (project = key = '').
-- `bucket` is the start of the hour or day, Unix milliseconds UTC.
CREATE TABLE usage_rollups (
    org_id              TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    grain               TEXT NOT NULL CHECK (grain IN ('hour', 'day_project', 'day')),
    bucket              BIGINT NOT NULL,
    project_id          TEXT NOT NULL,
    key_id              TEXT NOT NULL,
    model               TEXT NOT NULL,
    plan                TEXT NOT NULL,
    requests            BIGINT NOT NULL,
    errors              BIGINT NOT NULL,
    input_tokens        BIGINT NOT NULL,
    cached_input_tokens BIGINT NOT NULL,
    output_tokens       BIGINT NOT NULL,
    cost                BIGINT NOT NULL,
    -- The latest occurred_at summed here ("last used" of a key).
    last_at             BIGINT NOT NULL,
    PRIMARY KEY (org_id, grain, bucket, project_id, key_id, model, plan)
);
-- A key's spend and last use (API Keys table) without the organization's other keys.
CREATE INDEX usage_rollups_by_key ON usage_rollups (key_id, grain, bucket);

-- Pruning raw records past their retention goes by time across organizations.
CREATE INDEX usage_records_by_time ON usage_records (occurred_at);

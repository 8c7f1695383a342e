-- Usage rollups sum the exact cost of records (pico-USD, `usage_records.cost_picos`) instead
-- of each record's cost rounded to the micro-dollar, so that they agree with the ledger (which
-- debits exact cost, carrying fractions: decision 0007) exactly (issue 13, docs/analytics.md).
-- Existing rows keep their micro-USD sums, scaled; `tollgate admin usage rebuild-rollups`
-- recomputes them exactly from the raw records still kept.
ALTER TABLE usage_rollups ADD COLUMN cost_picos BIGINT NOT NULL DEFAULT 0;
UPDATE usage_rollups SET cost_picos = cost * 1000000;
ALTER TABLE usage_rollups DROP COLUMN cost;

-- Usage rollups sum the exact cost of records (pico-USD, `usage_records.cost_picos`) instead
-- of each record's cost rounded to the micro-dollar, so that they agree with the ledger (which
-- debits exact cost, carrying fractions: decision 0007) exactly (issue 13, docs/analytics.md).
-- The exact sum is `cost` (Σ whole micro-USD of each record, as 64 bits hold up to $9.2T)
-- × 1,000,000 + `cost_pico_rem` (Σ each record's pico-USD below a micro-dollar): one 64-bit
-- column of pico-USD would overflow past $9.2M in one row. Existing rows keep their micro-USD
-- sums; `tollgate admin usage rebuild-rollups` recomputes them exactly from the raw records
-- still kept.
ALTER TABLE usage_rollups ADD COLUMN cost_pico_rem BIGINT NOT NULL DEFAULT 0;

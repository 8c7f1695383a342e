-- Usage records written by the gateway (issue 11): time to first token of a streamed answer,
-- and whether the tokens were counted from the delivered text because the upstream gave no
-- `usage` (1) rather than reported by it (0).

ALTER TABLE usage_records ADD COLUMN ttft_ms BIGINT;
ALTER TABLE usage_records ADD COLUMN estimated BIGINT NOT NULL DEFAULT 0;

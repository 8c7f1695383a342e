-- The org-wide API keys list ("All projects", issue 13, docs/analytics.md): an organization's
-- live keys in list order (created, then id), so that a page — the first or one after a
-- cursor — reads its rows straight from the index instead of sorting every key of the
-- organization. Partial: revoked keys, however many, are not in it.
CREATE INDEX api_keys_live_by_org ON api_keys (org_id, created_at, id) WHERE revoked_at IS NULL;

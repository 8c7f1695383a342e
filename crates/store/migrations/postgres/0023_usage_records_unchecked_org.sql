-- A usage record no longer checks its organization's row when it is inserted (decision 0026).
-- The check ran once per row, as a trigger locking the organization's row (`FOR KEY SHARE`),
-- on the table the gateway writes most; organizations are never deleted, and every writer of
-- usage records takes the organization from a key or a session that names a stored one.
ALTER TABLE usage_records DROP CONSTRAINT usage_records_org_id_fkey;

-- Spend-limit leases (docs/decisions/0018-spend-limit-leases.md): each gateway process
-- reserves part of a spend limit's headroom in advance, as credit leases do with ledger holds,
-- and admits requests against it from memory. `spend_periods.reserved` is the sum of a
-- period's unexpired holds; a lease grows only while `spent + reserved + added <= limit`, under
-- the lock of the period's row. Amounts are BIGINT micro-USD, times BIGINT Unix milliseconds.
CREATE TABLE spend_holds (
    id         TEXT PRIMARY KEY,
    scope      TEXT NOT NULL,
    target_id  TEXT NOT NULL,
    period     TEXT NOT NULL,
    amount     BIGINT NOT NULL CHECK (amount >= 0),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX spend_holds_by_expiry ON spend_holds (expires_at);

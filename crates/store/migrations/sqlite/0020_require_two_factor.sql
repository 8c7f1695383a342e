-- Organizations can require two-factor sign-in of their members (issue 14,
-- docs/account-security.md, decision 0024). While `require_2fa` is 1, a member whose account
-- has no enabled TOTP is refused every org-scoped page and endpoint reached with a session.
-- A flag is BIGINT 0/1: sqlx's Any driver cannot decode a SQLite BOOLEAN.
ALTER TABLE organizations ADD COLUMN require_2fa BIGINT NOT NULL DEFAULT 0 CHECK (require_2fa IN (0, 1));

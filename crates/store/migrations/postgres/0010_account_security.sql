-- Account security (issue 14, docs/account-security.md, docs/decisions/0022-account-security.md).

-- A session's public id, for the session list and "sign out" of one session. The token hash
-- stays the key a request is looked up by; the id never lets anyone use the session. Sessions
-- from before this migration get an id derived from their hash (its first 96 bits: the hash
-- is not a secret, and the id has the shape of every other id).
ALTER TABLE sessions ADD COLUMN id TEXT;
UPDATE sessions SET id = 'ses_' || substr(token_hash, 1, 24) WHERE id IS NULL;
CREATE UNIQUE INDEX sessions_by_id ON sessions (id);

-- Forgot-password links: single use (`used_at`), one hour (`expires_at`), stored hashed.
CREATE TABLE password_resets (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX password_resets_by_user ON password_resets (user_id);

-- Email verification: NULL until the emailed link (or an accepted invitation) proves the
-- address. Accounts from before this migration count as verified since their creation: they
-- were made under the old rules and may already hold keys and credits.
ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
UPDATE users SET email_verified_at = created_at;

-- Verification links: stored hashed; deleted when used (any one verifies the address).
CREATE TABLE email_verifications (
    token_hash TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX email_verifications_by_user ON email_verifications (user_id);

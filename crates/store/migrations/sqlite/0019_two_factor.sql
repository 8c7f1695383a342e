-- Two-factor sign-in with TOTP (issue 14, docs/account-security.md, decision 0023).
-- One row per user who started enrolment; `enabled_at` is set when a first code confirmed it.
-- `last_used_step` is the time step of the last accepted code: a code works once.
CREATE TABLE user_totp (
    user_id        TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    secret         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    enabled_at     BIGINT,
    last_used_step BIGINT
);

-- Recovery codes, stored as SHA-256 digests, each usable once.
CREATE TABLE totp_recovery_codes (
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at   BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- Invitations to join an organization. Only the SHA-256 of the emailed token is stored.
-- An address has at most one pending invitation per organization (the partial unique index),
-- so concurrent invitations of one address cannot both succeed.

CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('org_admin', 'project_admin', 'project_member')),
    project_ids  TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'rejected', 'revoked')),
    invited_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   BIGINT NOT NULL,
    sent_at      BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    responded_at BIGINT
);
CREATE UNIQUE INDEX invitations_one_pending_per_email ON invitations (org_id, email) WHERE status = 'pending';
CREATE INDEX invitations_by_org ON invitations (org_id, created_at);

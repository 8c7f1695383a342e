-- Projects, their members and API keys; organizations' gateway suspension; and the change log
-- through which every server process learns that a cached key must be dropped or that the model
-- catalog must be re-read (see docs/decisions/0004-key-cache.md).

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    is_default  BIGINT NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
    archived_at BIGINT,
    created_at  BIGINT NOT NULL,
    CHECK (is_default = 0 OR archived_at IS NULL)
);
CREATE INDEX projects_by_org ON projects (org_id, created_at, id);
CREATE UNIQUE INDEX projects_one_default_per_org ON projects (org_id) WHERE is_default = 1;

-- Project roles of members (org admins administer every project without a row here). Removing
-- someone from the organization removes their project roles with them.
CREATE TABLE project_members (
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    org_id     TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    role       TEXT NOT NULL CHECK (role IN ('project_admin', 'project_member')),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX project_members_by_member ON project_members (org_id, user_id);

-- Only the public id and the SHA-256 digest of the secret are stored, never the secret.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    public_id    TEXT NOT NULL UNIQUE,
    secret_hash  TEXT NOT NULL,
    project_id   TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    created_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_by_project ON api_keys (project_id, created_at, id);
CREATE INDEX api_keys_by_org ON api_keys (org_id);

-- Set by an operator (`tollgate admin org suspend`): the organization's API keys stop working.
ALTER TABLE organizations ADD COLUMN suspended_at BIGINT;

-- One row whose version every change bumps inside the changing transaction. The row lock makes
-- versions commit in order, so a process that has read up to version N has missed nothing below.
CREATE TABLE change_counter (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO change_counter (id, version) VALUES (1, 0);

CREATE TABLE change_events (
    version    BIGINT PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('api_key', 'project', 'organization', 'catalog')),
    target_id  TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX change_events_by_time ON change_events (created_at);

-- Every existing organization gets its Default project, and existing members are assigned to
-- it, so that no one loses access to an organization by this migration.
INSERT INTO projects (id, org_id, name, is_default, archived_at, created_at)
SELECT 'prj_' || lower(hex(randomblob(12))), o.id, 'Default', 1, NULL, o.created_at FROM organizations o;

INSERT INTO project_members (project_id, org_id, user_id, role, created_at)
SELECT p.id, m.org_id, m.user_id, 'project_member', m.created_at
FROM memberships m JOIN projects p ON p.org_id = m.org_id AND p.is_default = 1
WHERE m.role = 'member';

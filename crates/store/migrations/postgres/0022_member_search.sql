-- Members page and member search (issue 13, docs/analytics.md): each membership carries its
-- user's email and lower-cased name, so that both read only the organization's memberships.
-- - The Members page (by email) is a range of `memberships_by_org_email`: its cost does not
--   depend on other organizations' users.
-- - The search (a case-insensitive substring of name or email) walks that index within the
--   organization, in page order, testing the columns held in the index, and stops once the
--   page is full; no user row is read unless it matches, and nothing is lower-cased at query
--   time. No extension needed (no pg_trgm).
-- Kept in step by triggers: a membership takes its user's email and name when inserted (or
-- moved to another user), and a user's change of name or email reaches their memberships.
ALTER TABLE memberships ADD COLUMN user_email TEXT NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN user_name_lower TEXT NOT NULL DEFAULT '';

UPDATE memberships m SET user_email = u.email, user_name_lower = LOWER(u.name)
FROM users u WHERE u.id = m.user_id;

CREATE INDEX memberships_by_org_email
    ON memberships (org_id, user_email, user_name_lower, user_id);

CREATE FUNCTION memberships_copy_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- An unknown user leaves them empty; the foreign key then refuses the row.
    NEW.user_email := COALESCE((SELECT u.email FROM users u WHERE u.id = NEW.user_id), '');
    NEW.user_name_lower :=
        COALESCE((SELECT LOWER(u.name) FROM users u WHERE u.id = NEW.user_id), '');
    RETURN NEW;
END
$$;

CREATE TRIGGER memberships_copy_user
    BEFORE INSERT OR UPDATE OF user_id ON memberships
    FOR EACH ROW EXECUTE FUNCTION memberships_copy_user();

CREATE FUNCTION users_to_memberships() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE memberships SET user_email = NEW.email, user_name_lower = LOWER(NEW.name)
    WHERE user_id = NEW.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_to_memberships
    AFTER UPDATE OF name, email ON users
    FOR EACH ROW
    WHEN (OLD.name IS DISTINCT FROM NEW.name OR OLD.email IS DISTINCT FROM NEW.email)
    EXECUTE FUNCTION users_to_memberships();

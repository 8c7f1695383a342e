-- Members page and member search (issue 13, docs/analytics.md): each membership carries its
-- user's email and lower-cased name, so that both read only the organization's memberships.
-- - The Members page (by email) is a range of `memberships_by_org_email`: its cost does not
--   depend on other organizations' users.
-- - The search (a case-insensitive substring of name or email) walks that index within the
--   organization, in page order, testing the columns held in the index, and stops once the
--   page is full; no user row is read unless it matches, and nothing is lower-cased at query
--   time. No extension needed.
-- Kept in step by triggers: a membership takes its user's email and name when inserted (or
-- moved to another user), and a user's change of name or email reaches their memberships.
ALTER TABLE memberships ADD COLUMN user_email TEXT NOT NULL DEFAULT '';
ALTER TABLE memberships ADD COLUMN user_name_lower TEXT NOT NULL DEFAULT '';

UPDATE memberships SET
    user_email = (SELECT u.email FROM users u WHERE u.id = memberships.user_id),
    user_name_lower = (SELECT LOWER(u.name) FROM users u WHERE u.id = memberships.user_id);

CREATE INDEX memberships_by_org_email
    ON memberships (org_id, user_email, user_name_lower, user_id);

CREATE TRIGGER memberships_copy_user_on_insert AFTER INSERT ON memberships
BEGIN
    UPDATE memberships SET
        user_email = COALESCE((SELECT u.email FROM users u WHERE u.id = NEW.user_id), ''),
        user_name_lower =
            COALESCE((SELECT LOWER(u.name) FROM users u WHERE u.id = NEW.user_id), '')
    WHERE org_id = NEW.org_id AND user_id = NEW.user_id;
END;

CREATE TRIGGER memberships_copy_user_on_move AFTER UPDATE OF user_id ON memberships
BEGIN
    UPDATE memberships SET
        user_email = COALESCE((SELECT u.email FROM users u WHERE u.id = NEW.user_id), ''),
        user_name_lower =
            COALESCE((SELECT LOWER(u.name) FROM users u WHERE u.id = NEW.user_id), '')
    WHERE org_id = NEW.org_id AND user_id = NEW.user_id;
END;

CREATE TRIGGER users_to_memberships AFTER UPDATE OF name, email ON users
WHEN OLD.name IS NOT NEW.name OR OLD.email IS NOT NEW.email
BEGIN
    UPDATE memberships SET user_email = NEW.email, user_name_lower = LOWER(NEW.name)
    WHERE user_id = NEW.id;
END;

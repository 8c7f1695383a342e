-- Which models a project's keys may call (issue 11): model ids separated by single spaces;
-- NULL (the default) allows every model of the catalog.
ALTER TABLE projects ADD COLUMN allowed_models TEXT;

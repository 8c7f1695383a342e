-- PostgreSQL's usage records no longer check their organization's row (decision 0026). SQLite
-- keeps its check: dropping a constraint there means rebuilding the table, and SQLite's check
-- is an in-process index lookup that its writer does not wait on. Nothing else changes.
SELECT 1;

//! What the `usage_queries` benchmark needs of the store beyond its API: set-based seeding
//! statements, fresh planner statistics, a deep key cursor, and the usage question asked of
//! the raw records (for comparison with the rollups); and, for the tests that hold the
//! benchmark's lists to their indexes, the engine's plan of those lists' queries. Only with
//! the `testing` feature.

use sqlx::Row;
use tollgate_domain::{OrgId, Timestamp};

use crate::api_keys::org_keys_page_sql;
use crate::members::{members_cursor, members_page_sql, search_pattern};
use crate::usage_rollups::{COST_MICROS_SQL, COST_REM_SQL, DAY_MS, ERROR_SQL};
use crate::Engine;
use crate::{Result, Store};

impl Store {
    /// Runs one SQL statement as it is (seeding: the benchmark's own generated SQL).
    pub async fn execute_for_bench(&self, sql: &str) -> Result<u64> {
        Ok(sqlx::query(sql).execute(&self.pool).await?.rows_affected())
    }

    /// Refreshes the query planner's statistics after bulk seeding.
    pub async fn analyze_for_bench(&self) -> Result<()> {
        sqlx::query("ANALYZE").execute(&self.pool).await?;
        Ok(())
    }

    /// The id of the organization's `n`-th API key in list order (created, then id).
    pub async fn nth_key_for_bench(&self, org_id: &OrgId, n: i64) -> Result<Option<String>> {
        let row = sqlx::query(
            "SELECT id FROM api_keys WHERE org_id = $1 ORDER BY created_at, id LIMIT 1 OFFSET $2",
        )
        .bind(org_id.as_str())
        .bind(n)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok(r.try_get("id")?)).transpose()
    }

    /// The engine's plan for one page of [`Store::org_api_keys`] (the statement itself, with
    /// the same parameters): SQLite's `EXPLAIN QUERY PLAN` details or PostgreSQL's `EXPLAIN`
    /// text, one line each. `after` is the cursor key's creation time and id.
    pub async fn org_api_keys_plan_for_test(
        &self,
        org_id: &OrgId,
        after: Option<(Timestamp, &str)>,
        limit: i64,
    ) -> Result<String> {
        let (after_time, after_id) = after.unwrap_or((i64::MIN, ""));
        let rows = sqlx::query(&format!("{} {}", self.explain(), org_keys_page_sql()))
            .bind(org_id.as_str())
            .bind(after_time)
            .bind(after_id)
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        self.plan_text(&rows)
    }

    /// The engine's plan for one page of [`Store::list_members`] (the statement itself, with
    /// the same parameters), as [`Store::org_api_keys_plan_for_test`] gives it.
    pub async fn list_members_plan_for_test(
        &self,
        org_id: &OrgId,
        search: Option<&str>,
        after: Option<&str>,
        limit: i64,
    ) -> Result<String> {
        let after_email = members_cursor(&self.pool, org_id, after).await?;
        let rows = sqlx::query(&format!("{} {}", self.explain(), members_page_sql()))
            .bind(org_id.as_str())
            .bind(search_pattern(search))
            .bind(after_email)
            .bind(limit + 1)
            .fetch_all(&self.pool)
            .await?;
        self.plan_text(&rows)
    }

    fn explain(&self) -> &'static str {
        match self.engine() {
            Engine::Sqlite => "EXPLAIN QUERY PLAN",
            Engine::Postgres => "EXPLAIN",
        }
    }

    /// SQLite's `EXPLAIN QUERY PLAN` details or PostgreSQL's `EXPLAIN` text, one line each.
    fn plan_text(&self, rows: &[sqlx::any::AnyRow]) -> Result<String> {
        let column = match self.engine() {
            Engine::Sqlite => "detail",
            Engine::Postgres => "QUERY PLAN",
        };
        let lines = rows
            .iter()
            .map(|r| r.try_get::<String, _>(column))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(lines.join("\n"))
    }

    /// Usage by UTC day and model over `[start, end)` summed from the raw records: the
    /// question the rollups answer, asked the slow way. Returns the number of groups.
    pub async fn raw_usage_by_day_and_model_for_bench(
        &self,
        org_id: &OrgId,
        start: Timestamp,
        end: Timestamp,
    ) -> Result<usize> {
        let sql = format!(
            "SELECT occurred_at - (occurred_at % {DAY_MS}) AS d, model, COUNT(*) AS requests, \
             CAST(SUM({ERROR_SQL}) AS BIGINT) AS errors, CAST(SUM(input_tokens) AS BIGINT) AS i, \
             CAST(SUM(cached_input_tokens) AS BIGINT) AS c, CAST(SUM(output_tokens) AS BIGINT) AS o, \
             CAST(SUM({COST_MICROS_SQL}) AS BIGINT) AS cost, \
             CAST(SUM({COST_REM_SQL}) AS BIGINT) AS cost_rem FROM usage_records \
             WHERE org_id = $1 AND occurred_at >= $2 AND occurred_at < $3 \
             GROUP BY occurred_at - (occurred_at % {DAY_MS}), model ORDER BY d, model"
        );
        let rows = sqlx::query(&sql)
            .bind(org_id.as_str())
            .bind(start)
            .bind(end)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.len())
    }
}

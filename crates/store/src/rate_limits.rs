//! Fixed-window counters shared by every process through the database, so that N server
//! processes do not allow N times the limit (DESIGN §6).

use sqlx::Row;
use tollgate_domain::Timestamp;

use crate::error::corrupt;
use crate::{Result, Store};

impl Store {
    /// Counts one hit in `bucket`'s current window of `window_ms` and returns the hits in that
    /// window, this one included.
    pub async fn rate_hit(&self, bucket: &str, window_ms: i64, now: Timestamp) -> Result<i64> {
        self.rate_add(bucket, 1, window_ms, now).await
    }

    /// Counts `n` hits at once (one invitation request may send many emails).
    pub async fn rate_add(
        &self,
        bucket: &str,
        n: i64,
        window_ms: i64,
        now: Timestamp,
    ) -> Result<i64> {
        self.count_hits(bucket, n, None, window_ms, now)
            .await?
            .ok_or_else(|| corrupt(format!("no count returned for rate bucket {bucket}")))
    }

    /// Counts one hit only if `bucket`'s current window holds fewer than `limit`: true when it
    /// was counted. Checked and counted in one statement, so that concurrent callers take at
    /// most `limit` places and, unlike a hit taken back after the fact, a refused one never
    /// stands in another's way.
    pub async fn rate_take(
        &self,
        bucket: &str,
        limit: i64,
        window_ms: i64,
        now: Timestamp,
    ) -> Result<bool> {
        if limit <= 0 {
            return Ok(false);
        }
        Ok(self
            .count_hits(bucket, 1, Some(limit), window_ms, now)
            .await?
            .is_some())
    }

    /// Adds `n` hits to `bucket`'s current window (a new window starts from them) and returns
    /// the window's hits; with `below`, only while the window holds fewer than that, and
    /// `None` when it does not.
    async fn count_hits(
        &self,
        bucket: &str,
        n: i64,
        below: Option<i64>,
        window_ms: i64,
        now: Timestamp,
    ) -> Result<Option<i64>> {
        let window_start = now - now.rem_euclid(window_ms);
        let only_below = if below.is_some() {
            " WHERE rate_limits.window_start <> excluded.window_start OR rate_limits.hits < $4"
        } else {
            ""
        };
        let sql = format!(
            "INSERT INTO rate_limits (bucket, window_start, hits) VALUES ($1, $2, $3) \
             ON CONFLICT (bucket) DO UPDATE SET \
               hits = CASE WHEN rate_limits.window_start = excluded.window_start \
                      THEN rate_limits.hits + excluded.hits ELSE excluded.hits END, \
               window_start = excluded.window_start{only_below} \
             RETURNING hits"
        );
        let mut query = sqlx::query(&sql).bind(bucket).bind(window_start).bind(n);
        if let Some(limit) = below {
            query = query.bind(limit);
        }
        query
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.try_get("hits"))
            .transpose()
            .map_err(Into::into)
    }

    /// The hits in `bucket`'s current window, without counting one.
    pub async fn rate_hits(&self, bucket: &str, window_ms: i64, now: Timestamp) -> Result<i64> {
        let window_start = now - now.rem_euclid(window_ms);
        let row =
            sqlx::query("SELECT hits FROM rate_limits WHERE bucket = $1 AND window_start = $2")
                .bind(bucket)
                .bind(window_start)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match row {
            Some(row) => row.try_get("hits")?,
            None => 0,
        })
    }

    /// Takes back one hit counted at `now`: a reservation that was not used (the login was
    /// refused before its password was checked, or it succeeded). A no-op once the window has
    /// moved on, and never below zero.
    pub async fn rate_release(&self, bucket: &str, window_ms: i64, now: Timestamp) -> Result<()> {
        let window_start = now - now.rem_euclid(window_ms);
        sqlx::query(
            "UPDATE rate_limits SET hits = hits - 1 \
             WHERE bucket = $1 AND window_start = $2 AND hits > 0",
        )
        .bind(bucket)
        .bind(window_start)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes windows that ended before `before` (housekeeping).
    pub async fn prune_rate_limits(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM rate_limits WHERE window_start < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Forgets the hits in `bucket` (a successful login clears its failures).
    pub async fn rate_reset(&self, bucket: &str) -> Result<()> {
        sqlx::query("DELETE FROM rate_limits WHERE bucket = $1")
            .bind(bucket)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

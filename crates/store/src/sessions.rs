use sqlx::Row;
use tollgate_domain::Timestamp;

use crate::users::User;
use crate::{Result, Store};

/// The user behind a live session.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: User,
    pub created_at: Timestamp,
}

/// How often `last_seen_at` is written: a session used continuously is not updated on every
/// request.
const TOUCH_EVERY_MS: i64 = 60_000;

impl Store {
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent) \
             VALUES ($1, $2, $3, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .bind(ip)
        .bind(user_agent)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The user of a session that is neither past its absolute expiry nor idle for longer than
    /// `idle_ms`. Marks the session as seen (at most once a minute).
    pub async fn session_user(
        &self,
        token_hash: &str,
        now: Timestamp,
        idle_ms: i64,
    ) -> Result<Option<SessionUser>> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.name, u.created_at AS user_created_at, s.created_at, s.last_seen_at \
             FROM sessions s JOIN users u ON u.id = s.user_id \
             WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3",
        )
        .bind(token_hash)
        .bind(now)
        .bind(now - idle_ms)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let last_seen: i64 = row.try_get("last_seen_at")?;
        if now - last_seen >= TOUCH_EVERY_MS {
            sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(token_hash)
                .execute(&self.pool)
                .await?;
        }
        Ok(Some(SessionUser {
            user: User {
                id: row.try_get("id")?,
                email: row.try_get("email")?,
                name: row.try_get("name")?,
                created_at: row.try_get("user_created_at")?,
            },
            created_at: row.try_get("created_at")?,
        }))
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes sessions past their absolute expiry or idle for longer than `idle_ms`.
    pub async fn delete_expired_sessions(&self, now: Timestamp, idle_ms: i64) -> Result<u64> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
            .bind(now)
            .bind(now - idle_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

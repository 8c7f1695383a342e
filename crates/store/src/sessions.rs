use sqlx::Row;
use tollgate_domain::{SessionId, Timestamp, UserId};

use crate::stored_id::StoredId;
use crate::users::User;
use crate::{Result, Store};

/// The user behind a live session.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: User,
    /// The session's public id (`ses_…`).
    pub session_id: SessionId,
    pub created_at: Timestamp,
}

/// A live session as its owner sees it in their session list.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct SessionInfo {
    #[sqlx(try_from = "StoredId")]
    pub id: SessionId,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// How often `last_seen_at` is written: a session used continuously is not updated on every
/// request.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The most sessions a session list shows (newest first); older ones still work and are ended
/// by "sign out all other sessions".
pub const SESSION_LIST_MAX: i64 = 100;

impl Store {
    /// Stores a new session; returns its public id.
    pub async fn create_session(
        &self,
        token_hash: &str,
        user_id: &UserId,
        now: Timestamp,
        expires_at: Timestamp,
        ip: Option<&str>,
        user_agent: Option<&str>,
    ) -> Result<SessionId> {
        let id = SessionId::generate();
        sqlx::query(
            "INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent) \
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7)",
        )
        .bind(id.as_str())
        .bind(token_hash)
        .bind(user_id.as_str())
        .bind(now)
        .bind(expires_at)
        .bind(ip)
        .bind(user_agent)
        .execute(&self.pool)
        .await?;
        Ok(id)
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
            "SELECT u.id, u.email, u.name, u.created_at AS user_created_at, u.email_verified_at, \
                    s.id AS session_id, \
                    s.created_at, s.last_seen_at \
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
                id: UserId::from_stored(row.try_get("id")?),
                email: row.try_get("email")?,
                name: row.try_get("name")?,
                created_at: row.try_get("user_created_at")?,
                email_verified_at: row.try_get("email_verified_at")?,
            },
            session_id: SessionId::from_stored(row.try_get("session_id")?),
            created_at: row.try_get("created_at")?,
        }))
    }

    /// The user's live sessions (by the same rule as `session_user`), most recently seen first,
    /// at most `SESSION_LIST_MAX + 1` (the extra one meaning "more").
    pub async fn user_sessions(
        &self,
        user_id: &UserId,
        now: Timestamp,
        idle_ms: i64,
    ) -> Result<Vec<SessionInfo>> {
        Ok(sqlx::query_as(
            "SELECT id, created_at, last_seen_at, ip, user_agent FROM sessions \
             WHERE user_id = $1 AND expires_at > $2 AND last_seen_at > $3 \
             ORDER BY last_seen_at DESC, id LIMIT $4",
        )
        .bind(user_id.as_str())
        .bind(now)
        .bind(now - idle_ms)
        .bind(SESSION_LIST_MAX + 1)
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn delete_session(&self, token_hash: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends the session `session_id` if it is `user_id`'s; false when there is no such session
    /// of theirs (another user's id answers the same as an unknown one).
    pub async fn delete_user_session(
        &self,
        user_id: &UserId,
        session_id: &SessionId,
    ) -> Result<bool> {
        let done = sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND id = $2")
            .bind(user_id.as_str())
            .bind(session_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Ends every session of `user_id` but `keep_session_id` (`None`: all of them). Returns
    /// how many were ended.
    pub async fn delete_user_sessions_except(
        &self,
        user_id: &UserId,
        keep_session_id: Option<&SessionId>,
    ) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND (id IS NULL OR id <> $2)")
                .bind(user_id.as_str())
                .bind(keep_session_id.map_or("", SessionId::as_str))
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
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

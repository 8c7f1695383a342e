//! Forgot-password links: a 256-bit token, stored hashed, good once and for a limited time.

use sqlx::Row;
use tollgate_domain::Timestamp;

use crate::users::USER_COLUMNS;
use crate::{enqueue_email_in, OutgoingEmail, Result, Store, StoreError, User};

impl Store {
    /// Stores a reset link for `user_id` and its email in one transaction (the email leaves
    /// only if the link exists).
    pub async fn create_password_reset(
        &self,
        token_hash: &str,
        user_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
        email: &OutgoingEmail,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        enqueue_email_in(&mut tx, email, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// True when `token_hash` names a link that is unused and not expired at `now`.
    pub async fn password_reset_usable(&self, token_hash: &str, now: Timestamp) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 AS one FROM password_resets \
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Uses the link `token_hash`: sets the new password, spends this link and every other
    /// unused link of the user, and ends all of the user's sessions, in one transaction.
    /// `NotFound` when the link is unknown, used or expired (nothing changes then). Two
    /// concurrent uses of one link: the guarded update lets exactly one through.
    pub async fn reset_password(
        &self,
        token_hash: &str,
        password_hash: &str,
        now: Timestamp,
    ) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "UPDATE password_resets SET used_at = $1 \
             WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
        )
        .bind(now)
        .bind(token_hash)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound);
        };
        let user_id: String = row.try_get("user_id")?;
        sqlx::query(
            "UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
        )
        .bind(now)
        .bind(&user_id)
        .execute(&mut *tx)
        .await?;
        let user: User = sqlx::query_as(&format!(
            "UPDATE users SET password_hash = $1 WHERE id = $2 RETURNING {USER_COLUMNS}"
        ))
        .bind(password_hash)
        .bind(&user_id)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(&user_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Deletes links that expired before `before` (housekeeping).
    pub async fn prune_password_resets(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM password_resets WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

//! Email verification links: a 256-bit token, stored hashed, good once and for a limited time.
//! Any one of a user's links proves the address; using it deletes them all.

use sqlx::Row;
use tollgate_domain::Timestamp;

use crate::users::USER_COLUMNS;
use crate::{enqueue_email_in, OutgoingEmail, Result, Store, StoreError, User};

impl Store {
    /// Stores a verification link for `user_id` and its email in one transaction.
    pub async fn create_email_verification(
        &self,
        token_hash: &str,
        user_id: &str,
        now: Timestamp,
        expires_at: Timestamp,
        email: &OutgoingEmail,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO email_verifications (token_hash, user_id, created_at, expires_at) \
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

    /// Uses the link `token_hash`: the user's address is verified (the first time only; a
    /// later verification keeps the first date) and all their links are deleted. `NotFound`
    /// for an unknown, used or expired link.
    pub async fn verify_email(&self, token_hash: &str, now: Timestamp) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "DELETE FROM email_verifications WHERE token_hash = $1 AND expires_at > $2 \
             RETURNING user_id",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound);
        };
        let user_id: String = row.try_get("user_id")?;
        let user = mark_verified(&mut tx, &user_id, now).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Marks the address of `user_id` verified by other means (an accepted invitation, sent
    /// to that address); a no-op when it already is.
    pub async fn mark_email_verified(&self, user_id: &str, now: Timestamp) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let user = mark_verified(&mut tx, user_id, now).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Deletes links that expired before `before` (housekeeping).
    pub async fn prune_email_verifications(&self, before: Timestamp) -> Result<u64> {
        let done = sqlx::query("DELETE FROM email_verifications WHERE expires_at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

async fn mark_verified(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &str,
    now: Timestamp,
) -> Result<User> {
    let user: Option<User> = sqlx::query_as(&format!(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1) WHERE id = $2 \
         RETURNING {USER_COLUMNS}"
    ))
    .bind(now)
    .bind(user_id)
    .fetch_optional(&mut **tx)
    .await?;
    let user = user.ok_or(StoreError::NotFound)?;
    sqlx::query("DELETE FROM email_verifications WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(user)
}

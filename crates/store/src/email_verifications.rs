//! Email verification links (`single_use_tokens`): any one of a user's links proves the
//! address; using it deletes them all.

use tollgate_domain::{Timestamp, UserId};

use crate::single_use_tokens::EMAIL_VERIFICATIONS;
use crate::users::USER_COLUMNS;
use crate::{OutgoingEmail, Result, Store, StoreError, User};

impl Store {
    /// Stores a verification link for `user_id` and its email in one transaction.
    pub async fn create_email_verification(
        &self,
        token_hash: &str,
        user_id: &UserId,
        now: Timestamp,
        expires_at: Timestamp,
        email: &OutgoingEmail,
    ) -> Result<()> {
        EMAIL_VERIFICATIONS
            .create(self, token_hash, user_id, now, expires_at, email)
            .await
    }

    /// Uses the link `token_hash`: the user's address is verified (the first time only; a
    /// later verification keeps the first date) and all their links are deleted. `NotFound`
    /// for an unknown, used or expired link.
    pub async fn verify_email(&self, token_hash: &str, now: Timestamp) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let user_id = EMAIL_VERIFICATIONS.take(&mut tx, token_hash, now).await?;
        let user = mark_verified(&mut tx, &user_id, now).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Marks the address of `user_id` verified by other means (an accepted invitation, sent
    /// to that address); a no-op when it already is.
    pub async fn mark_email_verified(&self, user_id: &UserId, now: Timestamp) -> Result<User> {
        let mut tx = self.begin_write().await?;
        let user = mark_verified(&mut tx, user_id, now).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Deletes links that expired before `before` (housekeeping).
    pub async fn prune_email_verifications(&self, before: Timestamp) -> Result<u64> {
        EMAIL_VERIFICATIONS.prune(self, before).await
    }
}

async fn mark_verified(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    user_id: &UserId,
    now: Timestamp,
) -> Result<User> {
    let user: Option<User> = sqlx::query_as(&format!(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1) WHERE id = $2 \
         RETURNING {USER_COLUMNS}"
    ))
    .bind(now)
    .bind(user_id.as_str())
    .fetch_optional(&mut **tx)
    .await?;
    let user = user.ok_or(StoreError::NotFound)?;
    EMAIL_VERIFICATIONS.spend_all(tx, user_id, now).await?;
    Ok(user)
}

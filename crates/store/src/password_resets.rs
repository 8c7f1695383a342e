//! Forgot-password links (`single_use_tokens`): kept after use, marked used.

use tollgate_domain::{Timestamp, UserId};

use crate::single_use_tokens::PASSWORD_RESETS;
use crate::users::USER_COLUMNS;
use crate::{OutgoingEmail, Result, Store, User};

impl Store {
    /// Stores a reset link for `user_id` and its email in one transaction (the email leaves
    /// only if the link exists).
    pub async fn create_password_reset(
        &self,
        token_hash: &str,
        user_id: &UserId,
        now: Timestamp,
        expires_at: Timestamp,
        email: &OutgoingEmail,
    ) -> Result<()> {
        PASSWORD_RESETS
            .create(self, token_hash, user_id, now, expires_at, email)
            .await
    }

    /// True when `token_hash` names a link that is unused and not expired at `now`.
    pub async fn password_reset_usable(&self, token_hash: &str, now: Timestamp) -> Result<bool> {
        PASSWORD_RESETS.usable(self, token_hash, now).await
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
        let user_id = PASSWORD_RESETS.take(&mut tx, token_hash, now).await?;
        PASSWORD_RESETS.spend_all(&mut tx, &user_id, now).await?;
        let user: User = sqlx::query_as(&format!(
            "UPDATE users SET password_hash = $1 WHERE id = $2 RETURNING {USER_COLUMNS}"
        ))
        .bind(password_hash)
        .bind(user_id.as_str())
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Deletes links that expired before `before` (housekeeping).
    pub async fn prune_password_resets(&self, before: Timestamp) -> Result<u64> {
        PASSWORD_RESETS.prune(self, before).await
    }
}

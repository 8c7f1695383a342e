//! Single-use links (email verification, password reset): a 256-bit token, stored hashed, good
//! once and for a limited time, in a table of `(token_hash, user_id, created_at, expires_at)`.
//! The kinds differ only in what using a link does to it: a verification link is deleted, a
//! reset link is kept and marked `used_at`.

use sqlx::{Any, Row, Transaction};
use tollgate_domain::{Timestamp, UserId};

use crate::{enqueue_email_in, OutgoingEmail, Result, Store, StoreError};

/// One kind of single-use link: its table and what using a link does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TokenKind {
    table: &'static str,
    /// Used links stay, with `used_at` set (a column of the table); otherwise they are deleted.
    keeps_used: bool,
}

pub(crate) const EMAIL_VERIFICATIONS: TokenKind = TokenKind {
    table: "email_verifications",
    keeps_used: false,
};

pub(crate) const PASSWORD_RESETS: TokenKind = TokenKind {
    table: "password_resets",
    keeps_used: true,
};

impl TokenKind {
    /// The condition of a link that can still be used (`$1` the hash, `$2` now).
    fn usable_clause(self) -> &'static str {
        if self.keeps_used {
            "token_hash = $1 AND used_at IS NULL AND expires_at > $2"
        } else {
            "token_hash = $1 AND expires_at > $2"
        }
    }

    /// Stores a link for `user_id` and its email in one transaction (the email leaves only if
    /// the link exists).
    pub(crate) async fn create(
        self,
        store: &Store,
        token_hash: &str,
        user_id: &UserId,
        now: Timestamp,
        expires_at: Timestamp,
        email: &OutgoingEmail,
    ) -> Result<()> {
        let mut tx = store.begin_write().await?;
        sqlx::query(&format!(
            "INSERT INTO {} (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            self.table
        ))
        .bind(token_hash)
        .bind(user_id.as_str())
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
        enqueue_email_in(&mut tx, email, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// True when `token_hash` names a link that is unused and not expired at `now`.
    pub(crate) async fn usable(
        self,
        store: &Store,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let row = sqlx::query(&format!(
            "SELECT 1 AS one FROM {} WHERE {}",
            self.table,
            self.usable_clause()
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&store.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Uses the link `token_hash` in `tx`: the user it was for. `NotFound` for an unknown, used
    /// or expired link. Two concurrent uses of one link: the guarded write lets exactly one
    /// through.
    pub(crate) async fn take(
        self,
        tx: &mut Transaction<'static, Any>,
        token_hash: &str,
        now: Timestamp,
    ) -> Result<UserId> {
        let spend = if self.keeps_used {
            format!("UPDATE {} SET used_at = $2", self.table)
        } else {
            format!("DELETE FROM {}", self.table)
        };
        let row = sqlx::query(&format!(
            "{spend} WHERE {} RETURNING user_id",
            self.usable_clause()
        ))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound);
        };
        Ok(UserId::from_stored(row.try_get("user_id")?))
    }

    /// Spends every unused link of `user_id` in `tx`.
    pub(crate) async fn spend_all(
        self,
        tx: &mut Transaction<'static, Any>,
        user_id: &UserId,
        now: Timestamp,
    ) -> Result<()> {
        if self.keeps_used {
            sqlx::query(&format!(
                "UPDATE {} SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL",
                self.table
            ))
            .bind(now)
            .bind(user_id.as_str())
            .execute(&mut **tx)
            .await?;
        } else {
            sqlx::query(&format!("DELETE FROM {} WHERE user_id = $1", self.table))
                .bind(user_id.as_str())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Deletes links that expired before `before` (housekeeping).
    pub(crate) async fn prune(self, store: &Store, before: Timestamp) -> Result<u64> {
        let done = sqlx::query(&format!("DELETE FROM {} WHERE expires_at < $1", self.table))
            .bind(before)
            .execute(&store.pool)
            .await?;
        Ok(done.rows_affected())
    }
}

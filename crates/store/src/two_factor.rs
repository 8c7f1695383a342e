//! Two-factor sign-in state of users: the TOTP secret, whether it is enabled, the last
//! accepted time step, and the hashed recovery codes (docs/account-security.md, decision 0023).

use sqlx::Row;
use tollgate_domain::{Timestamp, UserId};

use crate::{Result, Store};

/// A user's TOTP enrolment (started or enabled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpState {
    /// The base32 secret; never shown to the user again once enabled.
    pub secret: String,
    pub enabled: bool,
    /// Time step of the last accepted code.
    pub last_used_step: Option<i64>,
}

impl Store {
    /// Starts (or restarts) enrolment with a new secret. Refused (`false`) when two-factor
    /// sign-in is already enabled: the secret of an enabled enrolment is never replaced.
    pub async fn start_totp(&self, user_id: &UserId, secret: &str, now: Timestamp) -> Result<bool> {
        let done = sqlx::query(
            "INSERT INTO user_totp (user_id, secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET secret = excluded.secret, \
             created_at = excluded.created_at WHERE user_totp.enabled_at IS NULL",
        )
        .bind(user_id.as_str())
        .bind(secret)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The user's enrolment, if one was started.
    pub async fn totp_state(&self, user_id: &UserId) -> Result<Option<TotpState>> {
        let row = sqlx::query(
            "SELECT secret, enabled_at, last_used_step FROM user_totp WHERE user_id = $1",
        )
        .bind(user_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let enabled_at: Option<i64> = row.try_get("enabled_at")?;
        Ok(Some(TotpState {
            secret: row.try_get("secret")?,
            enabled: enabled_at.is_some(),
            last_used_step: row.try_get("last_used_step")?,
        }))
    }

    /// True when the user signs in with a second factor.
    pub async fn totp_enabled(&self, user_id: &UserId) -> Result<bool> {
        Ok(self.totp_state(user_id).await?.is_some_and(|s| s.enabled))
    }

    /// Enables a started enrolment whose code of `step` was just checked, and stores the
    /// recovery codes' digests (replacing any). `false` when there is no started, not yet
    /// enabled enrolment (a concurrent confirm got there first).
    pub async fn enable_totp(
        &self,
        user_id: &UserId,
        step: i64,
        recovery_code_hashes: &[String],
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let enabled = sqlx::query(
            "UPDATE user_totp SET enabled_at = $2, last_used_step = $3 \
             WHERE user_id = $1 AND enabled_at IS NULL",
        )
        .bind(user_id.as_str())
        .bind(now)
        .bind(step)
        .execute(&mut *tx)
        .await?;
        if enabled.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM totp_recovery_codes WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        for hash in recovery_code_hashes {
            sqlx::query("INSERT INTO totp_recovery_codes (user_id, code_hash) VALUES ($1, $2)")
                .bind(user_id.as_str())
                .bind(hash)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Records that the code of `step` was used; `false` when that step (or a later one) was
    /// already used or two-factor is not enabled. Of two concurrent uses one wins.
    pub async fn use_totp_step(&self, user_id: &UserId, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE user_totp SET last_used_step = $2 WHERE user_id = $1 \
             AND enabled_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $2)",
        )
        .bind(user_id.as_str())
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Uses an unused recovery code of the user; `false` for an unknown or used one.
    pub async fn use_recovery_code(
        &self,
        user_id: &UserId,
        code_hash: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE totp_recovery_codes SET used_at = $3 \
             WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id.as_str())
        .bind(code_hash)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// How many recovery codes the user has left.
    pub async fn recovery_codes_left(&self, user_id: &UserId) -> Result<i64> {
        Ok(sqlx::query(
            "SELECT COUNT(*) AS n FROM totp_recovery_codes WHERE user_id = $1 AND used_at IS NULL",
        )
        .bind(user_id.as_str())
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?)
    }

    /// Turns two-factor sign-in off: forgets the secret and the recovery codes.
    pub async fn disable_totp(&self, user_id: &UserId) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("DELETE FROM user_totp WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM totp_recovery_codes WHERE user_id = $1")
            .bind(user_id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}

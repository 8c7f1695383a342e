//! Credit leases: ledger holds that a gateway process grows, shrinks and renews, so that it
//! admits requests against credit reserved in advance instead of writing once per request
//! (decision 0013). Every change locks the organization's account row first, as every other
//! writer of its credit does, so `held ≤ balance` holds across any number of processes.

use sqlx::{Any, Row, Transaction};
use tollgate_domain::{new_id, IdPrefix, Timestamp};

use crate::error::corrupt;
use crate::ledger::open_account;
use crate::{Result, Store};

/// How much a lease asks for, decided under the account lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSizing {
    /// Granted in full or refused: what the request being admitted lacks.
    pub need: i64,
    /// What recent demand suggests; granted when the credit allows.
    pub want: i64,
    /// Never more than `available / share_divisor`, unless `need` alone is more: as the
    /// credit runs low leases shrink to exactly one request, so that the last dollars are not
    /// parked in one process while another refuses requests.
    pub share_divisor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseGrowth {
    /// The hold (the one given, or a new one when it was gone) grew by `added ≥ need`.
    Granted { hold_id: String, added: i64 },
    /// Available credit (balance − held) is less than `need`.
    Refused { available: i64 },
}

/// Shrinks a hold of `org_id` by up to `by` (removing it when nothing is left) and, when
/// `renew_until` is given, moves its expiry. The caller has locked the account. Returns how
/// much it shrank (0 when the hold is gone).
pub(crate) async fn shrink_hold_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &str,
    hold_id: &str,
    by: i64,
    renew_until: Option<Timestamp>,
) -> Result<i64> {
    let Some(row) = sqlx::query("SELECT amount FROM credit_holds WHERE id = $1 AND org_id = $2")
        .bind(hold_id)
        .bind(org_id)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(0);
    };
    let amount: i64 = row.try_get("amount")?;
    let taken = by.clamp(0, amount);
    if taken == amount {
        sqlx::query("DELETE FROM credit_holds WHERE id = $1")
            .bind(hold_id)
            .execute(&mut **tx)
            .await?;
    } else {
        sqlx::query(
            "UPDATE credit_holds SET amount = amount - $1, expires_at = COALESCE($2, expires_at) WHERE id = $3",
        )
        .bind(taken)
        .bind(renew_until)
        .bind(hold_id)
        .execute(&mut **tx)
        .await?;
    }
    if taken > 0 {
        sqlx::query("UPDATE credit_accounts SET held = held - $1 WHERE org_id = $2")
            .bind(taken)
            .bind(org_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(taken)
}

impl Store {
    /// Grows a lease of `org_id` by between `sizing.need` and `sizing.want` (see
    /// [`LeaseSizing`]) and renews it for `ttl_ms`; places a new hold when `hold_id` is `None`
    /// or no longer exists (expired, or used up).
    pub async fn grow_lease(
        &self,
        org_id: &str,
        hold_id: Option<&str>,
        sizing: LeaseSizing,
        ttl_ms: i64,
        now: Timestamp,
    ) -> Result<LeaseGrowth> {
        if sizing.need <= 0 || sizing.share_divisor <= 0 {
            return Err(corrupt(format!(
                "a lease must grow by a positive amount: {sizing:?}"
            )));
        }
        let mut tx = self.begin_write().await?;
        let account = open_account(&mut tx, org_id, now).await?;
        let available = account.balance.saturating_sub(account.held);
        if available < sizing.need {
            return Ok(LeaseGrowth::Refused { available });
        }
        let cap = sizing.need.max(available / sizing.share_divisor);
        let added = sizing.want.max(sizing.need).min(cap);
        let expires_at = now.saturating_add(ttl_ms);
        let mut grown = None;
        if let Some(id) = hold_id {
            let updated = sqlx::query(
                "UPDATE credit_holds SET amount = amount + $1, expires_at = $2 \
                 WHERE id = $3 AND org_id = $4 AND expires_at > $5",
            )
            .bind(added)
            .bind(expires_at)
            .bind(id)
            .bind(org_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 1 {
                grown = Some(id.to_owned());
            }
        }
        let hold_id = match grown {
            Some(id) => id,
            None => {
                let id = new_id(IdPrefix::Hold);
                sqlx::query(
                    "INSERT INTO credit_holds (id, org_id, amount, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&id)
                .bind(org_id)
                .bind(added)
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                id
            }
        };
        sqlx::query("UPDATE credit_accounts SET held = held + $1 WHERE org_id = $2")
            .bind(added)
            .bind(org_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(LeaseGrowth::Granted { hold_id, added })
    }

    /// Gives `by` of a lease back to the organization's available credit (all of it removes
    /// the hold) and renews what is left for `ttl_ms`. Returns how much was given back: 0 when
    /// the hold is gone.
    pub async fn shrink_lease(
        &self,
        org_id: &str,
        hold_id: &str,
        by: i64,
        ttl_ms: i64,
        now: Timestamp,
    ) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        crate::ledger::lock_account(&mut tx, org_id, now).await?;
        let taken = shrink_hold_in(
            &mut tx,
            org_id,
            hold_id,
            by,
            Some(now.saturating_add(ttl_ms)),
        )
        .await?;
        tx.commit().await?;
        Ok(taken)
    }

    /// Moves a lease's expiry to `now + ttl_ms`; false when the hold is gone (used up, or past
    /// its expiry).
    pub async fn renew_lease(&self, hold_id: &str, ttl_ms: i64, now: Timestamp) -> Result<bool> {
        // A hold past its expiry is the expiry job's, even if not yet released.
        let renewed = sqlx::query(
            "UPDATE credit_holds SET expires_at = $1 WHERE id = $2 AND expires_at > $3",
        )
        .bind(now.saturating_add(ttl_ms))
        .bind(hold_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// The amount a hold reserves now; `None` when it is gone.
    pub async fn hold_amount(&self, hold_id: &str) -> Result<Option<i64>> {
        sqlx::query("SELECT amount FROM credit_holds WHERE id = $1")
            .bind(hold_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| Ok(r.try_get("amount")?))
            .transpose()
    }
}

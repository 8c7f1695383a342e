//! Holds: credit reserved for a request in flight, settled with its real cost or released.

use sqlx::{Any, Row, Transaction};
use tollgate_domain::ledger::{ledger_add, ledger_sub};
use tollgate_domain::{new_id, IdPrefix, Money, OrgId, Timestamp};

use super::{debits::debit_usage_in, lock_account, open_account};
use crate::error::corrupt;
use crate::{Conflict, Result, Store};

impl Store {
    /// Reserves `amount` of the organization's available credit for `ttl_ms`, atomically: the
    /// hold is refused (`Conflict::InsufficientCredit`) when available credit does not cover it, however many requests
    /// ask at once.
    pub async fn place_hold(
        &self,
        org_id: &OrgId,
        amount: Money,
        ttl_ms: i64,
        now: Timestamp,
    ) -> Result<String> {
        if !amount.is_positive() {
            return Err(corrupt(format!("a hold must be positive, not {amount}")));
        }
        let mut tx = self.begin_write().await?;
        let account = open_account(&mut tx, org_id, now).await?;
        // Decided under the account lock, so that concurrent holds cannot both fit.
        let available = ledger_sub(account.balance, account.held)?;
        if amount > available {
            return Err(Conflict::InsufficientCredit.into());
        }
        sqlx::query("UPDATE credit_accounts SET held = $1 WHERE org_id = $2")
            .bind(ledger_add(account.held, amount)?.micros())
            .bind(org_id.as_str())
            .execute(&mut *tx)
            .await?;
        let id = new_id(IdPrefix::Hold);
        sqlx::query("INSERT INTO credit_holds (id, org_id, amount, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&id)
            .bind(org_id.as_str())
            .bind(amount.micros())
            .bind(now)
            .bind(now + ttl_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Removes a hold and returns its reservation; the organization and amount it held. With
    /// `only_expired`, a hold renewed since it was found due is left alone. The account is
    /// locked before the hold row, the order of every writer of holds.
    async fn drop_hold(
        tx: &mut Transaction<'static, Any>,
        hold_id: &str,
        now: Timestamp,
        only_expired: bool,
    ) -> Result<Option<(OrgId, Money)>> {
        let row = sqlx::query("SELECT org_id FROM credit_holds WHERE id = $1")
            .bind(hold_id)
            .fetch_optional(&mut **tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let org_id = OrgId::from_stored(row.try_get("org_id")?);
        let account = lock_account(tx, &org_id, now).await?;
        let row = sqlx::query(
            "DELETE FROM credit_holds WHERE id = $1 AND ($2 = 0 OR expires_at <= $3) RETURNING amount",
        )
        .bind(hold_id)
        .bind(i64::from(only_expired))
        .bind(now)
        .fetch_optional(&mut **tx)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let amount = Money::from_micros(row.try_get("amount")?);
        sqlx::query("UPDATE credit_accounts SET held = $1 WHERE org_id = $2")
            .bind(ledger_sub(account.held, amount)?.micros())
            .bind(org_id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(Some((org_id, amount)))
    }

    /// Settles a hold with the real cost: the reservation is returned and the cost debited, in
    /// one transaction. A hold that already expired still has its usage debited. False when the
    /// usage's idempotency key was seen before.
    pub async fn settle_hold(
        &self,
        org_id: &OrgId,
        hold_id: &str,
        actual: Money,
        idempotency_key: &str,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        Self::drop_hold(&mut tx, hold_id, now, false).await?;
        let applied =
            debit_usage_in(&mut tx, org_id, actual, idempotency_key, Some(hold_id), now).await?;
        tx.commit().await?;
        Ok(applied)
    }

    /// Returns a hold's reservation without debiting anything.
    pub async fn release_hold(&self, hold_id: &str, now: Timestamp) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let dropped = Self::drop_hold(&mut tx, hold_id, now, false).await?;
        tx.commit().await?;
        Ok(dropped.is_some())
    }

    /// Releases holds forgotten past their expiry (a crashed request, a lost settle).
    pub async fn expire_holds(&self, now: Timestamp) -> Result<u64> {
        let due = sqlx::query("SELECT id FROM credit_holds WHERE expires_at <= $1")
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        let mut released = 0;
        for row in due {
            let id: String = row.try_get("id")?;
            let mut tx = self.begin_write().await?;
            let dropped = Self::drop_hold(&mut tx, &id, now, true).await?;
            tx.commit().await?;
            if dropped.is_some() {
                released += 1;
            }
        }
        Ok(released)
    }
}

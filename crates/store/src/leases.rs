//! Credit leases: ledger holds that a gateway process grows, shrinks and renews, so that it
//! admits requests against credit reserved in advance instead of writing once per request
//! (decision 0013). Every change locks the organization's account row first, as every other
//! writer of its credit does, so `held ≤ balance` holds across any number of processes.

use sqlx::{Any, Row, Transaction};
use tollgate_domain::{new_id, IdPrefix, Money, OrgId, Timestamp};

use crate::error::corrupt;
use crate::ledger::open_account;
use crate::{Result, SpendPeriod, Store};

/// How much a lease asks for, decided under the account lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseSizing {
    /// Granted in full or refused: what the request being admitted lacks.
    pub need: Money,
    /// What recent demand suggests; granted when the credit allows.
    pub want: Money,
    /// Never more than `available / share_divisor`, unless `need` alone is more: as the
    /// credit runs low leases shrink to exactly one request, so that the last dollars are not
    /// parked in one process while another refuses requests.
    pub share_divisor: i64,
}

impl LeaseSizing {
    /// A sizing that would not grow a lease is a caller's bug.
    pub(crate) fn check(self) -> Result<()> {
        if !self.need.is_positive() || self.share_divisor <= 0 {
            return Err(corrupt(format!(
                "a lease must grow by a positive amount: {self:?}"
            )));
        }
        Ok(())
    }

    /// How much a lease grows by when `available` is left in its pool (`None`: nothing limits
    /// the pool, so what is wanted): at least `need`, at most `available / share_divisor`
    /// unless `need` is more, `want` when that allows. `Err(available)` when less than `need`
    /// is available. Both kinds of lease (credit, spend limit) size their growth here.
    pub(crate) fn added(self, available: Option<Money>) -> std::result::Result<Money, Money> {
        let wanted = self.want.max(self.need);
        let Some(available) = available else {
            return Ok(wanted);
        };
        if available < self.need {
            return Err(available);
        }
        // `check` made the divisor positive, so the share is always there.
        let share = available
            .checked_div(self.share_divisor)
            .unwrap_or(Money::ZERO);
        Ok(wanted.min(self.need.max(share)))
    }
}

/// The hold a lease keeps: of an organization's credit or of a spend limit's month. The store
/// calls of both kinds, in one place, so a gateway process's leases need no code per kind.
#[derive(Debug, Clone, Copy)]
pub enum HoldOf<'a> {
    /// A ledger hold of this organization.
    Credit(&'a OrgId),
    /// A spend hold of this scope's month.
    Spend(&'a SpendPeriod),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseGrowth {
    /// The hold (the one given, or a new one when it was gone) grew by `added ≥ need`.
    Granted { hold_id: String, added: Money },
    /// Available credit (balance − held) is less than `need`.
    Refused { available: Money },
}

/// Shrinks a hold of `org_id` by up to `by` (removing it when nothing is left) and, when
/// `renew_until` is given, moves its expiry. The caller has locked the account. Returns how
/// much it shrank (0 when the hold is gone).
pub(crate) async fn shrink_hold_in(
    tx: &mut Transaction<'static, Any>,
    org_id: &OrgId,
    hold_id: &str,
    by: Money,
    renew_until: Option<Timestamp>,
) -> Result<Money> {
    let Some(row) = sqlx::query("SELECT amount FROM credit_holds WHERE id = $1 AND org_id = $2")
        .bind(hold_id)
        .bind(org_id.as_str())
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(Money::ZERO);
    };
    let amount = Money::from_micros(row.try_get("amount")?);
    let taken = shrink_row_in(tx, "credit_holds", hold_id, amount, by, renew_until).await?;
    if taken.is_positive() {
        sqlx::query("UPDATE credit_accounts SET held = held - $1 WHERE org_id = $2")
            .bind(taken.micros())
            .bind(org_id.as_str())
            .execute(&mut **tx)
            .await?;
    }
    Ok(taken)
}

/// Shrinks the row `hold_id` of `table` (`credit_holds` or `spend_holds`), which reserves
/// `amount`, by up to `by`: deletes it when nothing is left, else takes `by` off and moves its
/// expiry to `renew_until` when given. Returns how much it shrank; the caller, holding the
/// lock of what the hold reserves from, takes as much off that.
pub(crate) async fn shrink_row_in(
    tx: &mut Transaction<'static, Any>,
    table: &'static str,
    hold_id: &str,
    amount: Money,
    by: Money,
    renew_until: Option<Timestamp>,
) -> Result<Money> {
    let taken = by.clamp(Money::ZERO, amount);
    if taken == amount {
        sqlx::query(&format!("DELETE FROM {table} WHERE id = $1"))
            .bind(hold_id)
            .execute(&mut **tx)
            .await?;
    } else {
        sqlx::query(&format!(
            "UPDATE {table} SET amount = amount - $1, expires_at = COALESCE($2, expires_at) WHERE id = $3"
        ))
        .bind(taken.micros())
        .bind(renew_until)
        .bind(hold_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(taken)
}

impl Store {
    /// Moves the expiry of hold `hold_id` of `table` to `now + ttl_ms`; false when it is gone
    /// (used up, or past its expiry: such a hold is the expiry job's, even if not yet
    /// released).
    pub(crate) async fn renew_row(
        &self,
        table: &'static str,
        hold_id: &str,
        ttl_ms: i64,
        now: Timestamp,
    ) -> Result<bool> {
        let renewed = sqlx::query(&format!(
            "UPDATE {table} SET expires_at = $1 WHERE id = $2 AND expires_at > $3"
        ))
        .bind(now.saturating_add(ttl_ms))
        .bind(hold_id)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(renewed.rows_affected() == 1)
    }

    /// The amount hold `hold_id` of `table` reserves now; `None` when it is gone.
    pub(crate) async fn row_amount(
        &self,
        table: &'static str,
        hold_id: &str,
    ) -> Result<Option<Money>> {
        sqlx::query(&format!("SELECT amount FROM {table} WHERE id = $1"))
            .bind(hold_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| Ok(Money::from_micros(r.try_get("amount")?)))
            .transpose()
    }

    /// Grows a lease's hold (`grow_lease`, `grow_spend_lease`).
    pub async fn grow_hold(
        &self,
        of: HoldOf<'_>,
        hold_id: Option<&str>,
        sizing: LeaseSizing,
        ttl_ms: i64,
        now: Timestamp,
    ) -> Result<LeaseGrowth> {
        match of {
            HoldOf::Credit(org_id) => self.grow_lease(org_id, hold_id, sizing, ttl_ms, now).await,
            HoldOf::Spend(period) => {
                self.grow_spend_lease(period, hold_id, sizing, ttl_ms, now)
                    .await
            }
        }
    }

    /// Shrinks a lease's hold by up to `by` (`shrink_lease`, `shrink_spend_lease`).
    pub async fn shrink_hold(
        &self,
        of: HoldOf<'_>,
        hold_id: &str,
        by: Money,
        ttl_ms: i64,
        now: Timestamp,
    ) -> Result<Money> {
        match of {
            HoldOf::Credit(org_id) => self.shrink_lease(org_id, hold_id, by, ttl_ms, now).await,
            HoldOf::Spend(_) => self.shrink_spend_lease(hold_id, by, ttl_ms, now).await,
        }
    }

    /// Renews a lease's hold for `ttl_ms`; false when it is gone.
    pub async fn renew_hold(
        &self,
        of: HoldOf<'_>,
        hold_id: &str,
        ttl_ms: i64,
        now: Timestamp,
    ) -> Result<bool> {
        self.renew_row(of.table(), hold_id, ttl_ms, now).await
    }

    /// Gives a lease's whole hold back.
    pub async fn release_lease_hold(
        &self,
        of: HoldOf<'_>,
        hold_id: &str,
        now: Timestamp,
    ) -> Result<()> {
        match of {
            HoldOf::Credit(_) => self.release_hold(hold_id, now).await.map(|_| ()),
            HoldOf::Spend(_) => self.release_spend_hold(hold_id, now).await,
        }
    }

    /// Grows a lease of `org_id` by between `sizing.need` and `sizing.want` (see
    /// [`LeaseSizing`]) and renews it for `ttl_ms`; places a new hold when `hold_id` is `None`
    /// or no longer exists (expired, or used up).
    pub async fn grow_lease(
        &self,
        org_id: &OrgId,
        hold_id: Option<&str>,
        sizing: LeaseSizing,
        ttl_ms: i64,
        now: Timestamp,
    ) -> Result<LeaseGrowth> {
        sizing.check()?;
        let mut tx = self.begin_write().await?;
        let account = open_account(&mut tx, org_id, now).await?;
        let available = account.balance.saturating_sub(account.held);
        let added = match sizing.added(Some(available)) {
            Ok(added) => added,
            Err(available) => return Ok(LeaseGrowth::Refused { available }),
        };
        let expires_at = now.saturating_add(ttl_ms);
        let mut grown = None;
        if let Some(id) = hold_id {
            let updated = sqlx::query(
                "UPDATE credit_holds SET amount = amount + $1, expires_at = $2 \
                 WHERE id = $3 AND org_id = $4 AND expires_at > $5",
            )
            .bind(added.micros())
            .bind(expires_at)
            .bind(id)
            .bind(org_id.as_str())
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
                .bind(org_id.as_str())
                .bind(added.micros())
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                id
            }
        };
        sqlx::query("UPDATE credit_accounts SET held = held + $1 WHERE org_id = $2")
            .bind(added.micros())
            .bind(org_id.as_str())
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
        org_id: &OrgId,
        hold_id: &str,
        by: Money,
        ttl_ms: i64,
        now: Timestamp,
    ) -> Result<Money> {
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
        self.renew_row("credit_holds", hold_id, ttl_ms, now).await
    }

    /// The amount a hold reserves now; `None` when it is gone.
    pub async fn hold_amount(&self, hold_id: &str) -> Result<Option<Money>> {
        self.row_amount("credit_holds", hold_id).await
    }
}

impl HoldOf<'_> {
    fn table(self) -> &'static str {
        match self {
            HoldOf::Credit(_) => "credit_holds",
            HoldOf::Spend(_) => "spend_holds",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(micros: i64) -> Money {
        Money::from_micros(micros)
    }

    fn sizing(need: i64, want: i64) -> LeaseSizing {
        LeaseSizing {
            need: m(need),
            want: m(want),
            share_divisor: 4,
        }
    }

    #[test]
    fn a_lease_grows_by_what_is_wanted_within_a_share_of_what_is_left() {
        // Plenty left: what is wanted.
        assert_eq!(sizing(10, 100).added(Some(m(1_000))), Ok(m(100)));
        // A quarter of what is left caps what is wanted...
        assert_eq!(sizing(10, 100).added(Some(m(200))), Ok(m(50)));
        // ...but never below what the request needs.
        assert_eq!(sizing(80, 100).added(Some(m(200))), Ok(m(80)));
        // Wanting less than needed still grants the need.
        assert_eq!(sizing(10, 0).added(Some(m(1_000))), Ok(m(10)));
        // Not enough left for the need: refused with what is available.
        assert_eq!(sizing(10, 100).added(Some(m(9))), Err(m(9)));
        assert_eq!(sizing(10, 100).added(Some(m(-5))), Err(m(-5)));
        // Nothing limits the pool: what is wanted.
        assert_eq!(sizing(10, 100).added(None), Ok(m(100)));
        assert_eq!(sizing(10, 0).added(None), Ok(m(10)));
    }

    #[test]
    fn a_sizing_that_would_not_grow_is_refused() {
        assert!(sizing(1, 1).check().is_ok());
        assert!(sizing(0, 1).check().is_err());
        let mut s = sizing(1, 1);
        s.share_divisor = 0;
        assert!(s.check().is_err());
    }
}

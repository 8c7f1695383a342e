//! Spend-limit leases (docs/decisions/0018-spend-limit-leases.md): holds on a spend limit's
//! monthly headroom that a gateway process grows, shrinks and renews, exactly as credit leases
//! do with ledger holds (`leases`). Every change to a hold first locks its month's
//! `spend_periods` row, so `spent + reserved ≤ limit` holds across any number of processes
//! (`reserved` being the sum of the month's holds).

use sqlx::{Any, Row, Transaction};
use tollgate_domain::limits::spend::SpendScope;
use tollgate_domain::{new_id, IdPrefix, Money, Timestamp};

use crate::error::corrupt;
use crate::leases::{shrink_row_in, LeaseGrowth, LeaseSizing};
use crate::spend::add_spent_in;
use crate::{Result, Store};

/// One scope's month: what a spend lease reserves from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpendPeriod {
    pub scope: SpendScope,
    pub target_id: String,
    /// `YYYY-MM` (UTC).
    pub period: String,
}

impl SpendPeriod {
    fn key(&self) -> (SpendScope, &str, &str) {
        (self.scope, &self.target_id, &self.period)
    }
}

/// Shrinks hold `hold_id` of `of` by up to `by` (removing it when nothing is left) and moves
/// its expiry to `renew_until` when given. The caller has locked the period's row. Returns how
/// much it shrank: 0 when the hold is gone or belongs to another period.
pub(crate) async fn shrink_spend_hold_in(
    tx: &mut Transaction<'static, Any>,
    of: &SpendPeriod,
    hold_id: &str,
    by: Money,
    renew_until: Option<Timestamp>,
) -> Result<Money> {
    let Some(row) = sqlx::query(
        "SELECT amount FROM spend_holds WHERE id = $1 AND scope = $2 AND target_id = $3 AND period = $4",
    )
    .bind(hold_id)
    .bind(of.scope.as_str())
    .bind(&of.target_id)
    .bind(&of.period)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(Money::ZERO);
    };
    let amount = Money::from_micros(row.try_get("amount")?);
    let taken = shrink_row_in(tx, "spend_holds", hold_id, amount, by, renew_until).await?;
    if taken.is_positive() {
        sqlx::query(
            "UPDATE spend_periods SET reserved = reserved - $1 WHERE scope = $2 AND target_id = $3 AND period = $4",
        )
        .bind(taken.micros())
        .bind(of.scope.as_str())
        .bind(&of.target_id)
        .bind(&of.period)
        .execute(&mut **tx)
        .await?;
    }
    Ok(taken)
}

/// The period a hold reserves from (it never changes), without locking anything.
async fn period_of_hold(
    tx: &mut Transaction<'static, Any>,
    hold_id: &str,
) -> Result<Option<SpendPeriod>> {
    let Some(row) = sqlx::query("SELECT scope, target_id, period FROM spend_holds WHERE id = $1")
        .bind(hold_id)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let scope: String = row.try_get("scope")?;
    Ok(Some(SpendPeriod {
        scope: scope
            .parse()
            .map_err(|_| corrupt(format!("spend hold scope '{scope}'")))?,
        target_id: row.try_get("target_id")?,
        period: row.try_get("period")?,
    }))
}

impl Store {
    /// Grows a spend lease on `of` by between `sizing.need` and `sizing.want` (see
    /// [`LeaseSizing`]; "available" is the limit − spent − reserved) and renews it for
    /// `ttl_ms`; places a new hold when `hold_id` is `None` or gone. A scope whose limit was
    /// removed meanwhile grants what is wanted: nothing limits it any more.
    pub async fn grow_spend_lease(
        &self,
        of: &SpendPeriod,
        hold_id: Option<&str>,
        sizing: LeaseSizing,
        ttl_ms: i64,
        now: Timestamp,
    ) -> Result<LeaseGrowth> {
        sizing.check()?;
        let mut tx = self.begin_write().await?;
        let used = add_spent_in(&mut tx, of.key(), Money::ZERO, now).await?;
        let limit: Option<Money> = sqlx::query(
            "SELECT monthly_limit FROM spend_limits WHERE scope = $1 AND target_id = $2",
        )
        .bind(of.scope.as_str())
        .bind(&of.target_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("monthly_limit").map(Money::from_micros))
        .transpose()?;
        let available = limit.map(|limit| {
            limit
                .saturating_sub(used.spent)
                .saturating_sub(used.reserved)
        });
        let added = match sizing.added(available) {
            Ok(added) => added,
            Err(available) => return Ok(LeaseGrowth::Refused { available }),
        };
        let expires_at = now.saturating_add(ttl_ms);
        let mut grown = None;
        if let Some(id) = hold_id {
            let updated = sqlx::query(
                "UPDATE spend_holds SET amount = amount + $1, expires_at = $2 WHERE id = $3 \
                 AND scope = $4 AND target_id = $5 AND period = $6 AND expires_at > $7",
            )
            .bind(added.micros())
            .bind(expires_at)
            .bind(id)
            .bind(of.scope.as_str())
            .bind(&of.target_id)
            .bind(&of.period)
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
                    "INSERT INTO spend_holds (id, scope, target_id, period, amount, created_at, expires_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&id)
                .bind(of.scope.as_str())
                .bind(&of.target_id)
                .bind(&of.period)
                .bind(added.micros())
                .bind(now)
                .bind(expires_at)
                .execute(&mut *tx)
                .await?;
                id
            }
        };
        sqlx::query(
            "UPDATE spend_periods SET reserved = reserved + $1 WHERE scope = $2 AND target_id = $3 AND period = $4",
        )
        .bind(added.micros())
        .bind(of.scope.as_str())
        .bind(&of.target_id)
        .bind(&of.period)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(LeaseGrowth::Granted { hold_id, added })
    }

    /// Gives `by` of a spend lease back (all of it removes the hold) and renews what is left
    /// for `ttl_ms`. Returns how much was given back: 0 when the hold is gone.
    pub async fn shrink_spend_lease(
        &self,
        hold_id: &str,
        by: Money,
        ttl_ms: i64,
        now: Timestamp,
    ) -> Result<Money> {
        let mut tx = self.begin_write().await?;
        let Some(of) = period_of_hold(&mut tx, hold_id).await? else {
            return Ok(Money::ZERO);
        };
        add_spent_in(&mut tx, of.key(), Money::ZERO, now).await?;
        let taken =
            shrink_spend_hold_in(&mut tx, &of, hold_id, by, Some(now.saturating_add(ttl_ms)))
                .await?;
        tx.commit().await?;
        Ok(taken)
    }

    /// Gives a whole spend hold back.
    pub(crate) async fn release_spend_hold(&self, hold_id: &str, now: Timestamp) -> Result<()> {
        self.shrink_spend_lease(hold_id, Money::from_micros(i64::MAX), 0, now)
            .await?;
        Ok(())
    }

    /// Releases the spend holds past their expiry (of processes that died); returns how many.
    pub async fn expire_spend_holds(&self, now: Timestamp) -> Result<u64> {
        let due = sqlx::query("SELECT id FROM spend_holds WHERE expires_at <= $1")
            .bind(now)
            .fetch_all(&self.pool)
            .await?;
        let mut released = 0;
        for row in due {
            let id: String = row.try_get("id")?;
            let mut tx = self.begin_write().await?;
            let Some(of) = period_of_hold(&mut tx, &id).await? else {
                continue;
            };
            add_spent_in(&mut tx, of.key(), Money::ZERO, now).await?;
            // Renewed meanwhile (its owner is alive after all): keep it.
            let still_due =
                sqlx::query("SELECT 1 FROM spend_holds WHERE id = $1 AND expires_at <= $2")
                    .bind(&id)
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?
                    .is_some();
            let everything = Money::from_micros(i64::MAX);
            if still_due
                && shrink_spend_hold_in(&mut tx, &of, &id, everything, None)
                    .await?
                    .is_positive()
            {
                released += 1;
            }
            tx.commit().await?;
        }
        Ok(released)
    }

    /// The amount a spend hold reserves now; `None` when it is gone.
    pub async fn spend_hold_amount(&self, hold_id: &str) -> Result<Option<Money>> {
        self.row_amount("spend_holds", hold_id).await
    }
}

/// The spend holds one usage record was reserved from, by scope.
pub type SpendHolds = Vec<(SpendScope, String)>;

/// Adds each stored record's cost (rounded up to the micro-dollar, as reserved) to its
/// organization's, project's and key's month, and shrinks the spend holds it was reserved from
/// by as much, row by row in key order (so concurrent batches lock in one order). `stored`
/// names the records stored by this batch; a repeated id counts once.
pub(crate) async fn settle_spend_in(
    tx: &mut Transaction<'static, Any>,
    records: &[crate::UsageRecord],
    stored: &std::collections::HashSet<String>,
    spend_holds: &[SpendHolds],
    now: Timestamp,
) -> Result<()> {
    use std::collections::{BTreeMap, HashSet};
    let mut by_period: BTreeMap<SpendPeriod, (Money, BTreeMap<&str, Money>)> = BTreeMap::new();
    let mut counted: HashSet<&str> = HashSet::new();
    for (i, r) in records.iter().enumerate() {
        let cost = r.cost.ceil();
        if !cost.is_positive() || !stored.contains(&r.id) || !counted.insert(&r.id) {
            continue;
        }
        let period = tollgate_domain::limits::spend::period_of(r.occurred_at);
        for (scope, target_id) in [
            (SpendScope::Organization, r.org_id.as_str()),
            (SpendScope::Project, r.project_id.as_str()),
            (SpendScope::ApiKey, r.key_id.as_str()),
        ] {
            let of = SpendPeriod {
                scope,
                target_id: target_id.to_owned(),
                period: period.clone(),
            };
            let entry = by_period.entry(of).or_default();
            entry.0 = entry.0.saturating_add(cost);
            let hold = spend_holds
                .get(i)
                .and_then(|h| h.iter().find(|(s, _)| *s == scope));
            if let Some((_, hold_id)) = hold {
                let by = entry.1.entry(hold_id.as_str()).or_default();
                *by = by.saturating_add(cost);
            }
        }
    }
    for (of, (spent, holds)) in by_period {
        add_spent_in(tx, of.key(), spent, now).await?;
        for (hold_id, by) in holds {
            shrink_spend_hold_in(tx, &of, hold_id, by, None).await?;
        }
    }
    Ok(())
}

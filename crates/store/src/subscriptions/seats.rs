//! The seats of each tier (`tier_state`): taken and released inside the transactions that
//! create or change a subscription, and the operator's sold-out override.

use sqlx::{Any, Row, Transaction};
use tollgate_domain::Timestamp;

use super::{Subscription, TierState};
use crate::{Result, Store};

fn capacity_bound(capacity: Option<u64>) -> i64 {
    capacity.map_or(i64::MAX, |c| i64::try_from(c).unwrap_or(i64::MAX))
}

/// Takes one seat of a tier; false when they are all taken.
pub(super) async fn take_seat(
    tx: &mut Transaction<'static, Any>,
    model: &str,
    tier: &str,
    capacity: Option<u64>,
    now: Timestamp,
) -> Result<bool> {
    sqlx::query(
        "INSERT INTO tier_state (model, tier, taken, sold_out_override, updated_at) \
         VALUES ($1, $2, 0, NULL, $3) ON CONFLICT (model, tier) DO NOTHING",
    )
    .bind(model)
    .bind(tier)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    let taken = sqlx::query(
        "UPDATE tier_state SET taken = taken + 1, updated_at = $4 \
         WHERE model = $1 AND tier = $2 AND taken < $3",
    )
    .bind(model)
    .bind(tier)
    .bind(capacity_bound(capacity))
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(taken == 1)
}

pub(super) async fn release_seat(
    tx: &mut Transaction<'static, Any>,
    model: &str,
    tier: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "UPDATE tier_state SET taken = taken - 1, updated_at = $3 \
         WHERE model = $1 AND tier = $2 AND taken > 0",
    )
    .bind(model)
    .bind(tier)
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Releases every seat a subscription holds: its tier's and its pending downgrade's.
pub(super) async fn release_all_seats(
    tx: &mut Transaction<'static, Any>,
    sub: &Subscription,
    now: Timestamp,
) -> Result<()> {
    release_seat(tx, &sub.model, &sub.tier, now).await?;
    if let Some(pending) = &sub.pending_tier {
        release_seat(tx, &sub.model, pending, now).await?;
    }
    Ok(())
}

impl Store {
    /// Every tier that ever had a seat taken or an override set.
    pub async fn tier_states(&self) -> Result<Vec<TierState>> {
        let rows = sqlx::query("SELECT model, tier, taken, sold_out_override FROM tier_state")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let o: Option<i64> = r.try_get("sold_out_override")?;
                Ok(TierState {
                    model: r.try_get("model")?,
                    tier: r.try_get("tier")?,
                    taken: r.try_get("taken")?,
                    sold_out_override: o.map(|v| v == 1),
                })
            })
            .collect()
    }

    /// Sets (or with `None` clears) the operator's sold-out override of a tier.
    pub async fn set_tier_sold_out(
        &self,
        model: &str,
        tier: &str,
        sold_out: Option<bool>,
        now: Timestamp,
    ) -> Result<()> {
        let value = sold_out.map(i64::from);
        sqlx::query(
            "INSERT INTO tier_state (model, tier, taken, sold_out_override, updated_at) \
             VALUES ($1, $2, 0, $3, $4) \
             ON CONFLICT (model, tier) DO UPDATE SET sold_out_override = $3, updated_at = $4",
        )
        .bind(model)
        .bind(tier)
        .bind(value)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

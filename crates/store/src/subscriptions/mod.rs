//! Subscriptions and the seats of each tier.
//!
//! Capacity: every live subscription (and every downgrade waiting for the period end) holds a
//! seat of its tier in `tier_state.taken`; a seat is taken by one guarded
//! `UPDATE … SET taken = taken + 1 WHERE taken < capacity` inside the transaction that creates
//! or changes the subscription, so concurrent subscribers can never exceed the capacity (a row
//! lock on PostgreSQL, `BEGIN IMMEDIATE` on SQLite).
//!
//! Charges happen outside these transactions (the payment provider is slow and remote), so a
//! charge in progress is written on the row first (`op_*`: key, tier, amount), then settled by
//! `finish_charge` — by the request that started it or, after a crash, by the renewal job
//! repeating the charge with the same idempotency key. Renewals are claimed with a lease
//! (`renewal_claim`, `renewal_claimed_until`) and settled by updates guarded on that claim and on
//! the period, so that each period is renewed once however many processes run the job.

mod renewals;
mod seats;

use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use tollgate_domain::subscription::SubscriptionStatus;
use tollgate_domain::{Money, OrgId, SubscriptionId, Timestamp};

use crate::audit::{insert_audit, AuditEntry};
use crate::error::corrupt;
use crate::{Conflict, Result, Store, StoreError};
use seats::{release_all_seats, release_seat, take_seat};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub org_id: OrgId,
    pub model: String,
    pub tier: String,
    pub status: SubscriptionStatus,
    pub anchor_at: Timestamp,
    pub period_index: i64,
    pub current_period_start: Timestamp,
    pub current_period_end: Timestamp,
    pub pending_tier: Option<String>,
    pub cancel_at_period_end: bool,
    pub renewal_retries: i64,
    pub next_retry_at: Option<Timestamp>,
    pub op: Option<PendingCharge>,
    pub canceled_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A charge started for a subscription and not settled yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingCharge {
    pub key: String,
    /// The tier the charge pays for: the subscription's own for a first payment, the new one for
    /// an upgrade.
    pub tier: String,
    pub amount: Money,
    pub started_at: Timestamp,
}

/// The seats taken on a tier and the operator's sold-out override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierState {
    pub model: String,
    pub tier: String,
    pub taken: i64,
    /// `None`: as the catalog says.
    pub sold_out_override: Option<bool>,
}

/// Why a subscription could not be created or changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubscriptionRefusal {
    /// The tier's seats are all taken.
    SoldOut,
    /// The organization already has a live subscription to this model.
    AlreadySubscribed,
    /// The subscription is not in a state that allows this (changed meanwhile, canceled,
    /// a charge or a renewal in progress).
    Busy,
}

/// Why creating or changing a subscription did not happen: a refusal of the operation, or the
/// store failing.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("refused: {0:?}")]
    Refused(SubscriptionRefusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SubscriptionRefusal> for SubscriptionError {
    fn from(r: SubscriptionRefusal) -> Self {
        Self::Refused(r)
    }
}

impl From<sqlx::Error> for SubscriptionError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// A new subscription, created `incomplete` with its first charge pending.
pub struct NewSubscription<'a> {
    pub id: &'a SubscriptionId,
    pub org_id: &'a OrgId,
    pub model: &'a str,
    pub tier: &'a str,
    pub capacity: Option<u64>,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub charge_key: &'a str,
    pub amount: Money,
}

/// How a pending charge ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChargeOutcome {
    Paid,
    Failed,
}

/// How a claimed renewal ended.
#[derive(Debug, Clone)]
pub enum RenewalOutcome<'a> {
    /// Paid: the next period starts on `tier` (the pending downgrade, if any, takes effect).
    Renewed { tier: &'a str },
    /// Not paid; past due until `retry_at`.
    RetryAt { retry_at: Timestamp },
    /// Canceled: asked for at the period end, or the last retry failed.
    Canceled,
}

const COLUMNS: &str = "id, org_id, model, tier, status, anchor_at, period_index, current_period_start, \
     current_period_end, pending_tier, cancel_at_period_end, renewal_retries, next_retry_at, op_key, \
     op_tier, op_amount, op_started_at, canceled_at, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<Subscription> {
    let status: String = row.try_get("status")?;
    let cancel: i64 = row.try_get("cancel_at_period_end")?;
    let op_key: Option<String> = row.try_get("op_key")?;
    let op = match op_key {
        Some(key) => Some(PendingCharge {
            key,
            tier: row
                .try_get::<Option<String>, _>("op_tier")?
                .unwrap_or_default(),
            amount: Money::from_micros(row.try_get::<Option<i64>, _>("op_amount")?.unwrap_or(0)),
            started_at: row.try_get::<Option<i64>, _>("op_started_at")?.unwrap_or(0),
        }),
        None => None,
    };
    Ok(Subscription {
        id: SubscriptionId::from_stored(row.try_get("id")?),
        org_id: OrgId::from_stored(row.try_get("org_id")?),
        model: row.try_get("model")?,
        tier: row.try_get("tier")?,
        status: SubscriptionStatus::from_str(&status).map_err(|e| corrupt(e.to_string()))?,
        anchor_at: row.try_get("anchor_at")?,
        period_index: row.try_get("period_index")?,
        current_period_start: row.try_get("current_period_start")?,
        current_period_end: row.try_get("current_period_end")?,
        pending_tier: row.try_get("pending_tier")?,
        cancel_at_period_end: cancel == 1,
        renewal_retries: row.try_get("renewal_retries")?,
        next_retry_at: row.try_get("next_retry_at")?,
        op,
        canceled_at: row.try_get("canceled_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

async fn fetch_in(tx: &mut Transaction<'static, Any>, id: &SubscriptionId) -> Result<Subscription> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE id = $1"
    ))
    .bind(id.as_str())
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    from_row(&row)
}

impl Store {
    /// An organization's subscriptions, canceled ones included, oldest first.
    pub async fn subscriptions(&self, org_id: &OrgId) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE org_id = $1 ORDER BY created_at, id"
        ))
        .bind(org_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Every subscription (of `model` only, when given), for operators; oldest first.
    pub async fn all_subscriptions(&self, model: Option<&str>) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE ($1 IS NULL OR model = $1) ORDER BY created_at, id"
        ))
        .bind(model)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn subscription(
        &self,
        org_id: &OrgId,
        id: &SubscriptionId,
    ) -> Result<Option<Subscription>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id.as_str())
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    /// The organization's live (not canceled) subscription to `model`, if any.
    pub async fn live_subscription(
        &self,
        org_id: &OrgId,
        model: &str,
    ) -> Result<Option<Subscription>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE org_id = $1 AND model = $2 AND status <> 'canceled'"
        ))
        .bind(org_id.as_str())
        .bind(model)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    /// Creates a subscription `incomplete`, holding a seat of its tier, with its first charge
    /// pending under `charge_key`.
    pub async fn start_subscription(
        &self,
        new: &NewSubscription<'_>,
        now: Timestamp,
    ) -> std::result::Result<Subscription, SubscriptionError> {
        let mut tx = self.begin_write().await?;
        if !take_seat(&mut tx, new.model, new.tier, new.capacity, now).await? {
            return Err(SubscriptionRefusal::SoldOut.into());
        }
        let inserted = sqlx::query(
            "INSERT INTO subscriptions (id, org_id, model, tier, status, anchor_at, period_index, \
             current_period_start, current_period_end, cancel_at_period_end, renewal_retries, \
             op_key, op_tier, op_amount, op_started_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'incomplete', $5, 0, $5, $6, 0, 0, $7, $4, $8, $9, $9, $9)",
        )
        .bind(new.id.as_str())
        .bind(new.org_id.as_str())
        .bind(new.model)
        .bind(new.tier)
        .bind(new.period_start)
        .bind(new.period_end)
        .bind(new.charge_key)
        .bind(new.amount.micros())
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted.map_err(|e| StoreError::unique(e, Conflict::Subscription)) {
            Ok(_) => {}
            Err(StoreError::Conflict(Conflict::Subscription)) => {
                return Err(SubscriptionRefusal::AlreadySubscribed.into())
            }
            Err(e) => return Err(e.into()),
        }
        let sub = fetch_in(&mut tx, new.id).await?;
        tx.commit().await?;
        Ok(sub)
    }

    /// Starts an upgrade of an active subscription from `from_tier` to `to_tier`: takes a seat
    /// of `to_tier` and records the prorated charge as pending.
    #[allow(clippy::too_many_arguments)]
    pub async fn start_upgrade(
        &self,
        org_id: &OrgId,
        id: &SubscriptionId,
        from_tier: &str,
        to_tier: &str,
        capacity: Option<u64>,
        charge_key: &str,
        amount: Money,
        now: Timestamp,
    ) -> std::result::Result<Subscription, SubscriptionError> {
        let mut tx = self.begin_write().await?;
        let marked = sqlx::query(
            "UPDATE subscriptions SET op_key = $4, op_tier = $5, op_amount = $6, op_started_at = $7, \
             updated_at = $7 \
             WHERE org_id = $1 AND id = $2 AND tier = $3 AND status = 'active' AND op_key IS NULL \
             AND cancel_at_period_end = 0 AND (renewal_claimed_until IS NULL OR renewal_claimed_until < $7) \
             AND current_period_end > $7",
        )
        .bind(org_id.as_str())
        .bind(id.as_str())
        .bind(from_tier)
        .bind(charge_key)
        .bind(to_tier)
        .bind(amount.micros())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked != 1 {
            return Err(SubscriptionRefusal::Busy.into());
        }
        let model = fetch_in(&mut tx, id).await?.model;
        if !take_seat(&mut tx, &model, to_tier, capacity, now).await? {
            return Err(SubscriptionRefusal::SoldOut.into());
        }
        let sub = fetch_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(sub)
    }

    /// Settles the pending charge `key`: a paid first charge makes the subscription active, a
    /// paid upgrade moves it to the new tier (dropping a pending downgrade); a failed one gives
    /// back the seat it held, and a subscription whose first charge failed is removed. `None`
    /// when it is removed so, or the charge was settled already (by another process).
    pub async fn finish_charge(
        &self,
        id: &SubscriptionId,
        key: &str,
        outcome: ChargeOutcome,
        now: Timestamp,
        audit: Option<&AuditEntry<'_>>,
    ) -> Result<Option<Subscription>> {
        let mut tx = self.begin_write().await?;
        let sub = fetch_in(&mut tx, id).await?;
        let Some(op) = sub.op.clone().filter(|op| op.key == key) else {
            return Ok(None);
        };
        let first = sub.status == SubscriptionStatus::Incomplete;
        let (status, tier, pending, canceled_at) = match (outcome, first) {
            (ChargeOutcome::Paid, true) => (
                "active",
                sub.tier.clone(),
                sub.pending_tier.clone(),
                None::<Timestamp>,
            ),
            (ChargeOutcome::Paid, false) => {
                release_all_seats(&mut tx, &sub, now).await?;
                (sub.status.as_str(), op.tier.clone(), None, None)
            }
            (ChargeOutcome::Failed, true) => {
                // Never paid, never live: the subscription goes as if it had not been asked for.
                release_seat(&mut tx, &sub.model, &sub.tier, now).await?;
                sqlx::query("DELETE FROM subscriptions WHERE id = $1 AND op_key = $2")
                    .bind(id.as_str())
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                return Ok(None);
            }
            (ChargeOutcome::Failed, false) => {
                release_seat(&mut tx, &sub.model, &op.tier, now).await?;
                (
                    sub.status.as_str(),
                    sub.tier.clone(),
                    sub.pending_tier.clone(),
                    None,
                )
            }
        };
        let settled = sqlx::query(
            "UPDATE subscriptions SET status = $3, tier = $4, pending_tier = $5, canceled_at = $6, \
             op_key = NULL, op_tier = NULL, op_amount = NULL, op_started_at = NULL, updated_at = $7 \
             WHERE id = $1 AND op_key = $2",
        )
        .bind(id.as_str())
        .bind(key)
        .bind(status)
        .bind(&tier)
        .bind(pending)
        .bind(canceled_at)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if settled != 1 {
            return Ok(None);
        }
        if let Some(audit) = audit {
            insert_audit(&mut tx, &sub.org_id, audit, now).await?;
        }
        let sub = fetch_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Some(sub))
    }

    /// Sets or clears (`None`) the tier a subscription moves to at the period end, holding a
    /// seat of it meanwhile; `current_pending` guards against a concurrent change.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_pending_tier(
        &self,
        org_id: &OrgId,
        id: &SubscriptionId,
        current_pending: Option<&str>,
        pending: Option<&str>,
        capacity: Option<u64>,
        now: Timestamp,
        audit: &AuditEntry<'_>,
    ) -> std::result::Result<Subscription, SubscriptionError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE subscriptions SET pending_tier = $4, updated_at = $5 \
             WHERE org_id = $1 AND id = $2 AND status IN ('active', 'past_due') AND op_key IS NULL \
             AND cancel_at_period_end = 0 AND (renewal_claimed_until IS NULL OR renewal_claimed_until < $5) \
             AND ((pending_tier IS NULL AND $3 IS NULL) OR pending_tier = $3)",
        )
        .bind(org_id.as_str())
        .bind(id.as_str())
        .bind(current_pending)
        .bind(pending)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(SubscriptionRefusal::Busy.into());
        }
        let sub = fetch_in(&mut tx, id).await?;
        if let Some(old) = current_pending {
            release_seat(&mut tx, &sub.model, old, now).await?;
        }
        if let Some(new) = pending {
            if !take_seat(&mut tx, &sub.model, new, capacity, now).await? {
                return Err(SubscriptionRefusal::SoldOut.into());
            }
        }
        insert_audit(&mut tx, org_id, audit, now).await?;
        tx.commit().await?;
        Ok(sub)
    }

    /// Asks for (or withdraws) cancellation at the period end.
    pub async fn set_cancel_at_period_end(
        &self,
        org_id: &OrgId,
        id: &SubscriptionId,
        cancel: bool,
        now: Timestamp,
        audit: &AuditEntry<'_>,
    ) -> std::result::Result<Subscription, SubscriptionError> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE subscriptions SET cancel_at_period_end = $3, updated_at = $4 \
             WHERE org_id = $1 AND id = $2 AND status IN ('active', 'past_due') AND op_key IS NULL \
             AND cancel_at_period_end <> $3 \
             AND (renewal_claimed_until IS NULL OR renewal_claimed_until < $4)",
        )
        .bind(org_id.as_str())
        .bind(id.as_str())
        .bind(i64::from(cancel))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Err(SubscriptionRefusal::Busy.into());
        }
        insert_audit(&mut tx, org_id, audit, now).await?;
        let sub = fetch_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(sub)
    }
}

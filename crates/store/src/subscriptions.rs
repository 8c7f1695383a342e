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

use std::str::FromStr;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use tollgate_domain::subscription::SubscriptionStatus;
use tollgate_domain::Timestamp;

use crate::audit::{insert_audit, AuditEntry};
use crate::orgs::corrupt;
use crate::outbox::{enqueue_email_in, OutgoingEmail};
use crate::{Result, Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: String,
    pub org_id: String,
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
    pub amount: i64,
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

/// A new subscription, created `incomplete` with its first charge pending.
pub struct NewSubscription<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub model: &'a str,
    pub tier: &'a str,
    pub capacity: Option<u64>,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
    pub charge_key: &'a str,
    pub amount: i64,
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
            amount: row.try_get::<Option<i64>, _>("op_amount")?.unwrap_or(0),
            started_at: row.try_get::<Option<i64>, _>("op_started_at")?.unwrap_or(0),
        }),
        None => None,
    };
    Ok(Subscription {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
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

fn capacity_bound(capacity: Option<u64>) -> i64 {
    capacity.map_or(i64::MAX, |c| i64::try_from(c).unwrap_or(i64::MAX))
}

/// Takes one seat of a tier; false when they are all taken.
async fn take_seat(
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

async fn release_seat(
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

async fn fetch_in(tx: &mut Transaction<'static, Any>, id: &str) -> Result<Subscription> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM subscriptions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or(StoreError::NotFound)?;
    from_row(&row)
}

/// Releases every seat a subscription holds: its tier's and its pending downgrade's.
async fn release_all_seats(
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

    /// An organization's subscriptions, canceled ones included, oldest first.
    pub async fn subscriptions(&self, org_id: &str) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE org_id = $1 ORDER BY created_at, id"
        ))
        .bind(org_id)
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

    pub async fn subscription(&self, org_id: &str, id: &str) -> Result<Option<Subscription>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE org_id = $1 AND id = $2"
        ))
        .bind(org_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    /// The organization's live (not canceled) subscription to `model`, if any.
    pub async fn live_subscription(
        &self,
        org_id: &str,
        model: &str,
    ) -> Result<Option<Subscription>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE org_id = $1 AND model = $2 AND status <> 'canceled'"
        ))
        .bind(org_id)
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
    ) -> Result<std::result::Result<Subscription, SubscriptionRefusal>> {
        let mut tx = self.begin_write().await?;
        if !take_seat(&mut tx, new.model, new.tier, new.capacity, now).await? {
            return Ok(Err(SubscriptionRefusal::SoldOut));
        }
        let inserted = sqlx::query(
            "INSERT INTO subscriptions (id, org_id, model, tier, status, anchor_at, period_index, \
             current_period_start, current_period_end, cancel_at_period_end, renewal_retries, \
             op_key, op_tier, op_amount, op_started_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'incomplete', $5, 0, $5, $6, 0, 0, $7, $4, $8, $9, $9, $9)",
        )
        .bind(new.id)
        .bind(new.org_id)
        .bind(new.model)
        .bind(new.tier)
        .bind(new.period_start)
        .bind(new.period_end)
        .bind(new.charge_key)
        .bind(new.amount)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match inserted.map_err(|e| StoreError::unique(e, "subscription")) {
            Ok(_) => {}
            Err(StoreError::Conflict(_)) => return Ok(Err(SubscriptionRefusal::AlreadySubscribed)),
            Err(e) => return Err(e),
        }
        let sub = fetch_in(&mut tx, new.id).await?;
        tx.commit().await?;
        Ok(Ok(sub))
    }

    /// Starts an upgrade of an active subscription from `from_tier` to `to_tier`: takes a seat
    /// of `to_tier` and records the prorated charge as pending.
    #[allow(clippy::too_many_arguments)]
    pub async fn start_upgrade(
        &self,
        org_id: &str,
        id: &str,
        from_tier: &str,
        to_tier: &str,
        capacity: Option<u64>,
        charge_key: &str,
        amount: i64,
        now: Timestamp,
    ) -> Result<std::result::Result<Subscription, SubscriptionRefusal>> {
        let mut tx = self.begin_write().await?;
        let marked = sqlx::query(
            "UPDATE subscriptions SET op_key = $4, op_tier = $5, op_amount = $6, op_started_at = $7, \
             updated_at = $7 \
             WHERE org_id = $1 AND id = $2 AND tier = $3 AND status = 'active' AND op_key IS NULL \
             AND cancel_at_period_end = 0 AND (renewal_claimed_until IS NULL OR renewal_claimed_until < $7) \
             AND current_period_end > $7",
        )
        .bind(org_id)
        .bind(id)
        .bind(from_tier)
        .bind(charge_key)
        .bind(to_tier)
        .bind(amount)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if marked != 1 {
            return Ok(Err(SubscriptionRefusal::Busy));
        }
        let model = fetch_in(&mut tx, id).await?.model;
        if !take_seat(&mut tx, &model, to_tier, capacity, now).await? {
            return Ok(Err(SubscriptionRefusal::SoldOut));
        }
        let sub = fetch_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Ok(sub))
    }

    /// Settles the pending charge `key`: a paid first charge makes the subscription active, a
    /// paid upgrade moves it to the new tier (dropping a pending downgrade); a failed one gives
    /// back the seat it held, and a subscription whose first charge failed is removed. `None`
    /// when it is removed so, or the charge was settled already (by another process).
    pub async fn finish_charge(
        &self,
        id: &str,
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
                    .bind(id)
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
        .bind(id)
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
        org_id: &str,
        id: &str,
        current_pending: Option<&str>,
        pending: Option<&str>,
        capacity: Option<u64>,
        now: Timestamp,
        audit: &AuditEntry<'_>,
    ) -> Result<std::result::Result<Subscription, SubscriptionRefusal>> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE subscriptions SET pending_tier = $4, updated_at = $5 \
             WHERE org_id = $1 AND id = $2 AND status IN ('active', 'past_due') AND op_key IS NULL \
             AND cancel_at_period_end = 0 AND (renewal_claimed_until IS NULL OR renewal_claimed_until < $5) \
             AND ((pending_tier IS NULL AND $3 IS NULL) OR pending_tier = $3)",
        )
        .bind(org_id)
        .bind(id)
        .bind(current_pending)
        .bind(pending)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Ok(Err(SubscriptionRefusal::Busy));
        }
        let sub = fetch_in(&mut tx, id).await?;
        if let Some(old) = current_pending {
            release_seat(&mut tx, &sub.model, old, now).await?;
        }
        if let Some(new) = pending {
            if !take_seat(&mut tx, &sub.model, new, capacity, now).await? {
                return Ok(Err(SubscriptionRefusal::SoldOut));
            }
        }
        insert_audit(&mut tx, org_id, audit, now).await?;
        tx.commit().await?;
        Ok(Ok(sub))
    }

    /// Asks for (or withdraws) cancellation at the period end.
    pub async fn set_cancel_at_period_end(
        &self,
        org_id: &str,
        id: &str,
        cancel: bool,
        now: Timestamp,
        audit: &AuditEntry<'_>,
    ) -> Result<std::result::Result<Subscription, SubscriptionRefusal>> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE subscriptions SET cancel_at_period_end = $3, updated_at = $4 \
             WHERE org_id = $1 AND id = $2 AND status IN ('active', 'past_due') AND op_key IS NULL \
             AND cancel_at_period_end <> $3 \
             AND (renewal_claimed_until IS NULL OR renewal_claimed_until < $4)",
        )
        .bind(org_id)
        .bind(id)
        .bind(i64::from(cancel))
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed != 1 {
            return Ok(Err(SubscriptionRefusal::Busy));
        }
        insert_audit(&mut tx, org_id, audit, now).await?;
        let sub = fetch_in(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Ok(sub))
    }

    /// Subscriptions whose period has ended (active) or whose retry is due (past due), with no
    /// charge in progress and no live claim; oldest due first.
    pub async fn due_renewals(&self, now: Timestamp, limit: i64) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM subscriptions \
             WHERE ((status = 'active' AND current_period_end <= $1) \
                 OR (status = 'past_due' AND next_retry_at <= $1)) \
             AND op_key IS NULL AND (renewal_claimed_until IS NULL OR renewal_claimed_until < $1) \
             ORDER BY current_period_end, id LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Charges started before `before` and never settled (their process died).
    pub async fn stale_charges(&self, before: Timestamp, limit: i64) -> Result<Vec<Subscription>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM subscriptions WHERE op_key IS NOT NULL AND op_started_at < $1 \
             ORDER BY op_started_at, id LIMIT $2"
        ))
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Claims the renewal of `sub` as it was read (same period, same retry count) until
    /// `until`; false when another process holds it or has done it.
    pub async fn claim_renewal(
        &self,
        sub: &Subscription,
        claim: &str,
        until: Timestamp,
        now: Timestamp,
    ) -> Result<bool> {
        let claimed = sqlx::query(
            "UPDATE subscriptions SET renewal_claim = $4, renewal_claimed_until = $5 \
             WHERE id = $1 AND current_period_end = $2 AND renewal_retries = $3 \
             AND status IN ('active', 'past_due') AND op_key IS NULL \
             AND (renewal_claimed_until IS NULL OR renewal_claimed_until < $6)",
        )
        .bind(&sub.id)
        .bind(sub.current_period_end)
        .bind(sub.renewal_retries)
        .bind(claim)
        .bind(until)
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(claimed == 1)
    }

    /// Gives a claim up without settling (the charge could not be attempted).
    pub async fn release_renewal(&self, id: &str, claim: &str) -> Result<()> {
        sqlx::query(
            "UPDATE subscriptions SET renewal_claim = NULL, renewal_claimed_until = NULL \
             WHERE id = $1 AND renewal_claim = $2",
        )
        .bind(id)
        .bind(claim)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Settles a claimed renewal of `sub` (as it was claimed), with its emails; false when the
    /// claim was lost (it ran out and another process settled the renewal).
    pub async fn settle_renewal(
        &self,
        sub: &Subscription,
        claim: &str,
        outcome: RenewalOutcome<'_>,
        next_period: (Timestamp, Timestamp),
        emails: &[OutgoingEmail],
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let guard = "WHERE id = $1 AND renewal_claim = $2 AND current_period_end = $3 AND renewal_retries = $4";
        let sql = match &outcome {
            RenewalOutcome::Renewed { .. } => format!(
                "UPDATE subscriptions SET status = 'active', tier = $5, pending_tier = NULL, \
                 period_index = period_index + 1, current_period_start = $6, current_period_end = $7, \
                 renewal_retries = 0, next_retry_at = NULL, renewal_claim = NULL, \
                 renewal_claimed_until = NULL, updated_at = $8 {guard}"
            ),
            RenewalOutcome::RetryAt { .. } => format!(
                "UPDATE subscriptions SET status = 'past_due', renewal_retries = renewal_retries + 1, \
                 next_retry_at = $5, renewal_claim = NULL, renewal_claimed_until = NULL, updated_at = $6 {guard}"
            ),
            RenewalOutcome::Canceled => format!(
                "UPDATE subscriptions SET status = 'canceled', canceled_at = $5, next_retry_at = NULL, \
                 renewal_claim = NULL, renewal_claimed_until = NULL, updated_at = $5 {guard}"
            ),
        };
        let query = sqlx::query(&sql)
            .bind(&sub.id)
            .bind(claim)
            .bind(sub.current_period_end)
            .bind(sub.renewal_retries);
        let query = match &outcome {
            RenewalOutcome::Renewed { tier } => query
                .bind(*tier)
                .bind(next_period.0)
                .bind(next_period.1)
                .bind(now),
            RenewalOutcome::RetryAt { retry_at } => query.bind(*retry_at).bind(now),
            RenewalOutcome::Canceled => query.bind(now),
        };
        let updated = query.execute(&mut *tx).await?.rows_affected();
        if updated != 1 {
            return Ok(false);
        }
        match outcome {
            RenewalOutcome::Renewed { tier } if tier != sub.tier => {
                release_seat(&mut tx, &sub.model, &sub.tier, now).await?;
                // A pending downgrade's seat is now the subscription's own; any other pending
                // seat (a tier no longer offered) is given back.
                if let Some(pending) = sub.pending_tier.as_deref().filter(|p| *p != tier) {
                    release_seat(&mut tx, &sub.model, pending, now).await?;
                }
            }
            RenewalOutcome::Renewed { .. } => {
                if let Some(pending) = &sub.pending_tier {
                    release_seat(&mut tx, &sub.model, pending, now).await?;
                }
            }
            RenewalOutcome::Canceled => release_all_seats(&mut tx, sub, now).await?,
            RenewalOutcome::RetryAt { .. } => {}
        }
        for email in emails {
            enqueue_email_in(&mut tx, email, now).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

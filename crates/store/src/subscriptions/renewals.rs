//! Renewal claims: which subscriptions are due, the lease one process takes on a renewal, and
//! its settlement, guarded on the claim and the period so each period is renewed once.

use tollgate_domain::{SubscriptionId, Timestamp};

use super::seats::{release_all_seats, release_seat};
use super::{from_row, RenewalOutcome, Subscription, COLUMNS};
use crate::outbox::{enqueue_email_in, OutgoingEmail};
use crate::{Result, Store};

impl Store {
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
        .bind(sub.id.as_str())
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
    pub async fn release_renewal(&self, id: &SubscriptionId, claim: &str) -> Result<()> {
        sqlx::query(
            "UPDATE subscriptions SET renewal_claim = NULL, renewal_claimed_until = NULL \
             WHERE id = $1 AND renewal_claim = $2",
        )
        .bind(id.as_str())
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
            .bind(sub.id.as_str())
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

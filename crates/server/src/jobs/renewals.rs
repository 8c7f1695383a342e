//! The renewal job: at the end of each period, charge the tier's price for the next one; a
//! failed renewal makes the subscription past due (admins emailed), retried daily for three days,
//! then canceled; downgrades and cancellations asked for take effect here. Also finishes charges
//! left pending by a process that died mid-request.
//!
//! Safe in every process at once: each renewal is claimed with a lease by one guarded update,
//! charged with an idempotency key of its period and attempt, and settled by an update guarded
//! on the claim and the period. A process that dies between the charge and the settlement loses
//! its lease; the next claimant charges with the same key, which returns the first payment
//! instead of charging again.

use std::sync::Arc;
use std::time::Duration;

use tollgate_domain::subscription::{
    after_failed_renewal, day_label, period, retry_deadline, AfterFailure,
};
use tollgate_domain::Money;
use tollgate_store::{ChargeOutcome, RenewalOutcome, Subscription};

use crate::app::App;
use crate::email::RenewalFailed;
use crate::service::subscriptions::{charge_description, charge_fingerprint};
use crate::service::ServiceError;

const EVERY: Duration = Duration::from_secs(60);
/// How long a claim holds: far longer than a charge takes.
pub const LEASE_MS: i64 = 5 * 60 * 1000;
/// A charge pending longer than this was abandoned by its process.
pub const STALE_CHARGE_MS: i64 = 5 * 60 * 1000;
const BATCH: i64 = 100;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RenewalReport {
    pub renewed: usize,
    pub failed: usize,
    pub canceled: usize,
    /// Due, but claimed by another process (or settled by it first).
    pub skipped: usize,
    /// Pending charges of dead requests, finished.
    pub resumed: usize,
}

/// For tests: where a renewal run stops as if its process had died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crash {
    Never,
    /// After the payment was made, before the subscription was updated.
    AfterCharge,
}

/// One run: every due renewal and every abandoned charge.
pub async fn run_once(app: &App) -> anyhow::Result<RenewalReport> {
    run_once_crashing(app, Crash::Never).await
}

pub async fn run_once_crashing(app: &App, crash: Crash) -> anyhow::Result<RenewalReport> {
    let mut report = RenewalReport::default();
    resume_stale_charges(app, &mut report).await?;
    loop {
        let now = app.now();
        let due = app.store.due_renewals(now, BATCH).await?;
        if due.is_empty() {
            break;
        }
        let mut progressed = false;
        for sub in &due {
            let claim = tollgate_domain::secret::new_token();
            if !app
                .store
                .claim_renewal(sub, &claim, now + LEASE_MS, now)
                .await?
            {
                report.skipped += 1;
                continue;
            }
            progressed = true;
            renew(app, sub, &claim, crash, &mut report).await?;
            if crash == Crash::AfterCharge {
                return Ok(report);
            }
        }
        if !progressed || due.len() < usize::try_from(BATCH).unwrap_or(0) {
            break;
        }
    }
    Ok(report)
}

async fn renew(
    app: &App,
    sub: &Subscription,
    claim: &str,
    crash: Crash,
    report: &mut RenewalReport,
) -> anyhow::Result<()> {
    let now = app.now();
    let catalog = app.catalog.current();
    let next_index = u32::try_from(sub.period_index + 1).unwrap_or(u32::MAX);
    let next = period(sub.anchor_at, next_index);
    let model = catalog.model(&sub.model);
    let tier_id = sub.pending_tier.as_deref().unwrap_or(&sub.tier);
    let tier = model.and_then(|m| m.tiers.iter().find(|t| t.id == tier_id));
    let (Some(model), Some(tier), false) = (model, tier, sub.cancel_at_period_end) else {
        // Asked to end, or no longer on offer: the subscription ends with its period.
        if app
            .store
            .settle_renewal(sub, claim, RenewalOutcome::Canceled, next, &[], now)
            .await?
        {
            report.canceled += 1;
        }
        app.entitlements.forget(&sub.org_id, &sub.model);
        return Ok(());
    };
    let amount = tier.monthly_price;
    let key = if sub.renewal_retries == 0 {
        format!("sub:{}:{}", sub.id, next.0)
    } else {
        format!("sub:{}:{}:retry:{}", sub.id, next.0, sub.renewal_retries)
    };
    let description = charge_description(
        model,
        tier,
        &format!("{} to {}", day_label(next.0), day_label(next.1)),
    );
    let charged = if amount.is_positive() {
        app.charge_subscription(
            &sub.org_id,
            amount,
            &key,
            &charge_fingerprint(&sub.id, &tier.id, amount),
            &description,
        )
        .await
    } else {
        Ok(())
    };
    if crash == Crash::AfterCharge {
        return Ok(());
    }
    let (outcome, emails) = match charged {
        Ok(()) => (RenewalOutcome::Renewed { tier: &tier.id }, Vec::new()),
        Err(ServiceError::Internal(e)) => {
            // Not known to be charged or refused: try again later with the same key.
            app.store.release_renewal(&sub.id, claim).await?;
            return Err(e);
        }
        Err(refused) => {
            let outcome = match after_failed_renewal(sub.current_period_end, sub.renewal_retries) {
                AfterFailure::RetryAt(retry_at) => RenewalOutcome::RetryAt { retry_at },
                AfterFailure::Cancel => RenewalOutcome::Canceled,
            };
            let emails = if sub.renewal_retries == 0 {
                failure_emails(
                    app,
                    sub,
                    &model.name,
                    &tier.name,
                    amount,
                    &refused.public_message(),
                )
                .await?
            } else {
                Vec::new()
            };
            (outcome, emails)
        }
    };
    let kind = match &outcome {
        RenewalOutcome::Renewed { .. } => 0,
        RenewalOutcome::RetryAt { .. } => 1,
        RenewalOutcome::Canceled => 2,
    };
    if app
        .store
        .settle_renewal(sub, claim, outcome, next, &emails, now)
        .await?
    {
        match kind {
            0 => report.renewed += 1,
            1 => report.failed += 1,
            _ => report.canceled += 1,
        }
        if !emails.is_empty() {
            app.mailer.wake();
        }
    } else {
        report.skipped += 1;
    }
    app.entitlements.forget(&sub.org_id, &sub.model);
    Ok(())
}

async fn failure_emails(
    app: &App,
    sub: &Subscription,
    model_name: &str,
    tier_name: &str,
    amount: Money,
    reason: &str,
) -> anyhow::Result<Vec<tollgate_store::OutgoingEmail>> {
    let org_name = app
        .store
        .org(&sub.org_id)
        .await?
        .map(|o| o.name)
        .unwrap_or_default();
    // No request to take the host from: the configured public URL, or a path.
    let billing_url = format!(
        "{}/o/{}/subscriptions",
        app.config
            .public_url
            .as_deref()
            .unwrap_or("")
            .trim_end_matches('/'),
        sub.org_id
    );
    let amount = amount.to_usd_string();
    let mut emails = Vec::new();
    for to in app.store.org_admin_emails(&sub.org_id).await? {
        emails.push(app.mailer.render(
            &to,
            &RenewalFailed {
                org_name: &org_name,
                model_name,
                tier_name,
                amount: &amount,
                reason,
                retry_until: retry_deadline(sub.current_period_end),
                billing_url: &billing_url,
            },
        )?);
    }
    Ok(emails)
}

/// Charges whose request died between starting and settling: charged again with the same
/// idempotency key (which answers the first payment if there was one), then settled.
async fn resume_stale_charges(app: &App, report: &mut RenewalReport) -> anyhow::Result<()> {
    let stale = app
        .store
        .stale_charges(app.now() - STALE_CHARGE_MS, BATCH)
        .await?;
    for sub in stale {
        let Some(op) = sub.op.clone() else { continue };
        let catalog = app.catalog.current();
        let description = match catalog
            .model(&sub.model)
            .and_then(|m| m.tiers.iter().find(|t| t.id == op.tier).map(|t| (m, t)))
        {
            Some((m, t)) => charge_description(m, t, "resumed"),
            None => format!("{} {} subscription", sub.model, op.tier),
        };
        let charged = if op.amount.is_positive() {
            app.charge_subscription(
                &sub.org_id,
                op.amount,
                &op.key,
                &charge_fingerprint(&sub.id, &op.tier, op.amount),
                &description,
            )
            .await
        } else {
            Ok(())
        };
        let outcome = match charged {
            Ok(()) => ChargeOutcome::Paid,
            Err(ServiceError::Internal(e)) => {
                tracing::warn!(subscription = %sub.id, error = %e, "pending subscription charge not settled; will retry");
                continue;
            }
            Err(_) => ChargeOutcome::Failed,
        };
        app.store
            .finish_charge(&sub.id, &op.key, outcome, app.now(), None)
            .await?;
        app.entitlements.forget(&sub.org_id, &sub.model);
        report.resumed += 1;
    }
    Ok(())
}

/// Runs `run_once` every minute until the process ends.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    super::spawn_periodic("renewals", EVERY, move || {
        let app = app.clone();
        async move {
            let r = run_once(&app).await?;
            Ok((r != RenewalReport::default()).then(|| format!("subscription renewals: {r:?}")))
        }
    })
}

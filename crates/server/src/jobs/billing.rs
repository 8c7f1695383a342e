//! The billing job: settles payments left pending (the reconciler), writes off expired credit
//! (which writers also do under the account lock, but an idle organization has none) and starts auto-recharges
//! that are due (back-off passed, or credit that fell below the threshold without usage being
//! reported here, e.g. holds). Safe in every process at once: settling is guarded and a unique
//! index allows one pending recharge per organization.

use std::sync::Arc;

use crate::app::App;

/// What a pass of the billing job did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BillingReport {
    pub reconciled: usize,
    /// Organizations whose expired credit was written off.
    pub expired: u64,
    /// Auto-recharges that succeeded.
    pub recharged: usize,
}

/// One pass: payments reconciled, expired credit written off, then recharges (after the
/// expiry, so that credit which just expired can trigger one).
pub async fn run_once(app: &App) -> anyhow::Result<BillingReport> {
    let reconciled = app.reconcile_payments().await?;
    let expired = app.store.expire_grants(app.now()).await?;
    let recharged = app.auto_recharge_sweep().await?;
    Ok(BillingReport {
        reconciled,
        expired,
        recharged,
    })
}

/// Runs `run_once` every `billing.job_interval` until the process ends.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    let every = app.config.billing.job_interval;
    super::spawn_periodic("billing", every, move || {
        let app = app.clone();
        async move {
            let report = run_once(&app).await?;
            Ok((report != BillingReport::default()).then(|| format!("{report:?}")))
        }
    })
}

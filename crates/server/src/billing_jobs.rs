//! The billing job: settles payments left pending (the reconciler) and starts auto-recharges
//! that are due (back-off passed, or credit that fell below the threshold without usage being
//! reported here, e.g. holds). Safe in every process at once: settling is guarded and a unique
//! index allows one pending recharge per organization.

use std::sync::Arc;

use crate::app::App;

/// One pass: payments reconciled, recharges that succeeded.
pub async fn run_once(app: &App) -> anyhow::Result<(usize, usize)> {
    let reconciled = app.reconcile_payments().await?;
    let recharged = app.auto_recharge_sweep().await?;
    Ok((reconciled, recharged))
}

/// Runs `run_once` every `billing.job_interval` until the process ends.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(app.config.billing.job_interval);
        loop {
            tick.tick().await;
            match run_once(&app).await {
                Ok((0, 0)) => {}
                Ok((reconciled, recharged)) => {
                    tracing::info!(reconciled, recharged, "billing job settled payments");
                }
                Err(e) => tracing::warn!(error = %e, "billing job failed; will retry"),
            }
        }
    })
}

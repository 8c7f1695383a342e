//! Periodic clean-up that keeps tables from growing without bound: expired sessions and
//! finished rate-limit windows. Safe to run in every process at once (plain deletes).

use std::sync::Arc;
use std::time::Duration;

use crate::app::App;
use crate::config::millis;

const EVERY: Duration = Duration::from_secs(600);
/// Rate-limit windows are at most an hour long; a day-old one is certainly finished.
const KEEP_RATE_WINDOWS_MS: i64 = 24 * 3600 * 1000;

/// One round of clean-up.
pub async fn run_once(app: &App) -> Result<(u64, u64), tollgate_store::StoreError> {
    let now = app.now();
    let sessions = app
        .store
        .delete_expired_sessions(now, millis(app.config.session_idle))
        .await?;
    let windows = app
        .store
        .prune_rate_limits(now - KEEP_RATE_WINDOWS_MS)
        .await?;
    Ok((sessions, windows))
}

/// Runs `run_once` every ten minutes until the process ends.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    super::spawn_periodic("housekeeping", EVERY, move || {
        let app = app.clone();
        async move {
            let (sessions, windows) = run_once(&app).await?;
            Ok((sessions + windows > 0).then(|| {
                format!("removed {sessions} expired sessions, {windows} rate-limit windows")
            }))
        }
    })
}

//! Periodic clean-up that keeps tables from growing without bound: expired sessions, password
//! reset and email verification links, finished rate-limit windows and raw usage records past their
//! retention (rollups stay). Safe to run in every process at once (plain deletes).

use std::sync::Arc;
use std::time::Duration;
use tollgate_domain::usage::MIN_RETENTION_DAYS;

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
    app.store.prune_password_resets(now).await?;
    app.store.prune_email_verifications(now).await?;
    Ok((sessions, windows))
}

/// The first moment whose raw usage records are kept: the start of the UTC day
/// `usage_retention_days` before today's. Pruning by whole days keeps every kept day complete,
/// so that rollups rebuilt from this moment on match the ones maintained.
pub fn usage_horizon(now: tollgate_domain::Timestamp, retention_days: u32) -> i64 {
    let day = tollgate_store::DAY_MS;
    now - now.rem_euclid(day) - i64::from(retention_days) * day
}

/// Deletes raw usage records older than the retention (rollups stay).
pub async fn prune_usage(app: &App) -> Result<u64, tollgate_store::StoreError> {
    // The configuration refuses less than the minimum; a `ServerConfig` built in code is held
    // to it here too.
    let retention = app.config.usage_retention_days.max(MIN_RETENTION_DAYS);
    let horizon = usage_horizon(app.now(), retention);
    app.store.prune_usage_records(horizon, 10_000).await
}

/// Runs `run_once` every ten minutes until the process ends.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    super::spawn_periodic("housekeeping", EVERY, move || {
        let app = app.clone();
        async move {
            let (sessions, windows) = run_once(&app).await?;
            let records = prune_usage(&app).await?;
            Ok((sessions + windows + records > 0).then(|| {
                format!(
                    "removed {sessions} expired sessions, {windows} rate-limit windows, \
                     {records} usage records past retention"
                )
            }))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::usage_horizon;
    use tollgate_domain::usage::{MAX_RECORD_AGE_MS, MIN_RETENTION_DAYS};

    /// The shortest retention still keeps every record that may be sent again, at any time of
    /// the day and with a day to spare (a report checked before midnight and written after
    /// it): a replay meets its stored id and is turned away, never stored and debited twice.
    #[test]
    fn the_shortest_retention_keeps_every_record_that_may_be_sent_again() {
        let day = tollgate_store::DAY_MS;
        let midnight = 1_790_035_200_000; // 2026-09-22 00:00 UTC
        assert_eq!(midnight % day, 0);
        for now in [
            midnight,
            midnight + 1,
            midnight + day / 2,
            midnight + day - 1,
        ] {
            let oldest_accepted = now - MAX_RECORD_AGE_MS;
            assert!(
                usage_horizon(now, MIN_RETENTION_DAYS) + day <= oldest_accepted,
                "at {now}"
            );
            // One day less would leave no day to spare.
            assert!(usage_horizon(now, MIN_RETENTION_DAYS - 1) + day > oldest_accepted);
        }
    }
}

//! Following the change log: every server process reads the database's change log a few times
//! a second and applies what other processes changed — dropping cached API keys, re-reading the
//! model catalog. See docs/decisions/0004-key-cache.md for why a poll and not LISTEN/NOTIFY.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_store::{Change, ChangeKind};

use crate::app::App;

/// How often the log is read. With `keys::cache::TRUST_WITHOUT_SYNC`, it bounds how long
/// another process may answer from a stale cache: well under the promised second.
pub const POLL_EVERY: Duration = Duration::from_millis(200);
const BATCH: i64 = 500;
/// Entries older than this are pruned; a process that has not read the log for that long has
/// long since stopped trusting its cache and starts afresh.
const KEEP_MS: i64 = 3_600_000;
const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Runs until the task is aborted.
pub async fn follow(app: Arc<App>) {
    let mut cursor = loop {
        match app.store.change_version().await {
            Ok(v) => break v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the change log yet; retrying");
                tokio::time::sleep(POLL_EVERY).await;
            }
        }
    };
    app.keys.cache().mark_synced();
    let mut last_prune = Instant::now();
    let mut failing = false;
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        let trusted_before = app.keys.cache().is_trusted();
        match read_all(&app, &mut cursor).await {
            Ok(()) => {
                if !trusted_before {
                    // Changes may have been missed (or pruned) while the log was out of reach.
                    app.keys.cache().forget_all();
                    app.limits.settings.forget_all();
                }
                app.keys.cache().mark_synced();
                if failing {
                    tracing::info!("the change log can be read again");
                    failing = false;
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot read the change log; API keys are checked against the database until it can");
                    failing = true;
                }
            }
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            if let Err(e) = app.store.prune_changes(app.now() - KEEP_MS).await {
                tracing::warn!(error = %e, "could not prune the change log");
            }
        }
    }
}

async fn read_all(app: &App, cursor: &mut i64) -> Result<(), tollgate_store::StoreError> {
    loop {
        let changes = app.store.changes_since(*cursor, BATCH).await?;
        let full = i64::try_from(changes.len()).unwrap_or(i64::MAX) >= BATCH;
        for change in changes {
            apply(app, &change);
            *cursor = change.version;
        }
        if !full {
            return Ok(());
        }
    }
}

fn apply(app: &App, change: &Change) {
    match change.kind {
        ChangeKind::ApiKey => app.keys.forget_key(&change.target_id),
        ChangeKind::Project => app.keys.forget_project(&change.target_id),
        ChangeKind::Organization => app.keys.forget_org(&change.target_id),
        ChangeKind::Catalog => app.catalog.reload_and_log("tollgate admin catalog reload"),
        ChangeKind::Limits => app.limits.settings.forget_org(&change.target_id),
    }
}

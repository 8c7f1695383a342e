//! Work done outside a request: the periodic jobs every process runs (`spawn_periodic`), and
//! background tasks a request starts without waiting for them (`Background`).
//!
//! Every job is safe to run in many processes at once; each module says why.

pub mod billing;
pub mod housekeeping;
pub mod renewals;

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::{JoinHandle, JoinSet};

use crate::app::App;

/// Runs `job` every `every` until the process ends (the first run at once). A failed run is
/// logged and retried at the next tick; `job` answers what to log on success, if anything.
pub fn spawn_periodic<F, Fut>(name: &'static str, every: Duration, job: F) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = anyhow::Result<Option<String>>> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            match job().await {
                Ok(Some(done)) => tracing::info!(job = name, "{done}"),
                Ok(None) => {}
                Err(e) => tracing::warn!(job = name, error = %e, "job failed; will retry"),
            }
        }
    })
}

/// The periodic jobs of a server process: housekeeping, billing and renewals.
pub fn spawn_all(app: &Arc<App>) -> Vec<JoinHandle<()>> {
    vec![
        housekeeping::spawn(app.clone()),
        billing::spawn(app.clone()),
        renewals::spawn(app.clone()),
    ]
}

/// Tasks started by a request that the request does not wait for (e.g. an auto-recharge after
/// usage). Kept so that a test can wait until they are done (`idle`) instead of sleeping.
#[derive(Default)]
pub struct Background {
    tasks: Mutex<JoinSet<()>>,
}

impl Background {
    /// Starts `work`; a failure is logged under `name`.
    pub fn spawn<Fut>(&self, name: &'static str, work: Fut)
    where
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        // Finished tasks are reaped here, so the set only holds the ones still running.
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move {
            if let Err(e) = work.await {
                tracing::warn!(task = name, error = %e, "background task failed");
            }
        });
    }

    /// Waits until every task started so far, and any they start, has finished.
    pub async fn idle(&self) {
        loop {
            let mut running =
                std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
            if running.is_empty() {
                return;
            }
            while running.join_next().await.is_some() {}
        }
    }
}

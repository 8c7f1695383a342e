//! The delivery worker: a task in every server process that takes due messages from the
//! outbox, sends them and records the outcome. A failure is retried with exponential back-off
//! and given up after `MAX_ATTEMPTS`; nothing lives only in memory, so a restart loses nothing.

use std::ops::AddAssign;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tollgate_store::{OutboxMessage, Retry};

use crate::app::App;
use crate::config::millis;

/// Deliveries tried per message before giving up (about three hours with the delays below).
pub const MAX_ATTEMPTS: i64 = 10;
const FIRST_RETRY_MS: i64 = 30_000;
const MAX_RETRY_MS: i64 = 3_600_000;
/// Messages per batch; the worker checks for shutdown between batches.
const BATCH: usize = 10;

/// Wait after the `attempts`-th failed delivery: 30 s, 1 min, 2 min, … at most an hour.
pub fn retry_delay_ms(attempts: i64) -> i64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    FIRST_RETRY_MS
        .saturating_mul(1_i64 << doublings)
        .min(MAX_RETRY_MS)
}

/// What a pass of the worker did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    pub sent: usize,
    /// Failed, to be tried again later.
    pub retrying: usize,
    pub gave_up: usize,
}

impl DeliveryReport {
    fn claimed(&self) -> usize {
        self.sent + self.retrying + self.gave_up
    }
}

impl AddAssign for DeliveryReport {
    fn add_assign(&mut self, other: Self) {
        self.sent += other.sent;
        self.retrying += other.retrying;
        self.gave_up += other.gave_up;
    }
}

/// Delivers every message due now, one at a time, and returns what happened. The background
/// worker runs this in a loop; tests call it to deliver deterministically.
pub async fn deliver_due(app: &App) -> anyhow::Result<DeliveryReport> {
    let mut report = DeliveryReport::default();
    loop {
        let batch = deliver_batch(app, BATCH).await?;
        report += batch;
        if batch.claimed() < BATCH {
            return Ok(report);
        }
    }
}

async fn deliver_batch(app: &App, limit: usize) -> anyhow::Result<DeliveryReport> {
    let mut report = DeliveryReport::default();
    for _ in 0..limit {
        // Claimed one at a time, so that a lease only has to outlast one delivery.
        let now = app.now();
        let lease_until = now + millis(app.mailer.lease);
        let Some(message) = app.store.claim_due_emails(now, lease_until, 1).await?.pop() else {
            break;
        };
        report += deliver_one(app, &message, lease_until).await?;
    }
    Ok(report)
}

async fn deliver_one(
    app: &App,
    message: &OutboxMessage,
    lease_until: i64,
) -> anyhow::Result<DeliveryReport> {
    let date = SystemTime::UNIX_EPOCH
        + Duration::from_millis(u64::try_from(app.now()).unwrap_or_default());
    let result = app
        .mailer
        .transport
        .send(message, &app.mailer.from, date)
        .await;
    let now = app.now();
    match result {
        Ok(()) => {
            app.store.mark_email_sent(message.id, now).await?;
            app.metrics.email_sent();
            tracing::info!(
                id = message.id,
                kind = %message.kind,
                to = %message.to,
                attempts = message.attempts,
                transport = app.mailer.transport.name(),
                "email sent",
            );
            Ok(DeliveryReport {
                sent: 1,
                ..DeliveryReport::default()
            })
        }
        Err(error) => {
            let give_up = error.is_permanent() || message.attempts >= MAX_ATTEMPTS;
            let retry = if give_up {
                Retry::GiveUp
            } else {
                Retry::At(now + retry_delay_ms(message.attempts))
            };
            let recorded = app
                .store
                .mark_email_failed(message.id, lease_until, &error.to_string(), retry, now)
                .await?;
            app.metrics.email_failed(give_up);
            if give_up {
                tracing::error!(
                    id = message.id,
                    kind = %message.kind,
                    to = %message.to,
                    attempts = message.attempts,
                    %error,
                    "email given up",
                );
            } else {
                tracing::warn!(
                    id = message.id,
                    kind = %message.kind,
                    attempts = message.attempts,
                    %error,
                    lease_lost = !recorded,
                    "email delivery failed; will retry",
                );
            }
            Ok(DeliveryReport {
                retrying: usize::from(!give_up),
                gave_up: usize::from(give_up),
                ..DeliveryReport::default()
            })
        }
    }
}

/// The background worker of one process.
pub struct EmailWorker {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    /// How many passes over the outbox have ended.
    passes: watch::Receiver<u64>,
}

impl EmailWorker {
    /// Starts delivering: at once, after each `Mailer::wake`, and every
    /// `EmailConfig::poll_interval`. Dropping the handle stops the worker too.
    pub fn spawn(app: Arc<App>) -> Self {
        let (stop, stopped) = oneshot::channel();
        let (passed, passes) = watch::channel(0);
        let task = tokio::spawn(run(app, stopped, passed));
        Self {
            stop: Some(stop),
            task,
            passes,
        }
    }

    /// Waits until `n` passes over the outbox have ended (e.g. the first one, which runs at
    /// start), so that a test knows the worker is asleep waiting for a wake or the next poll.
    pub async fn passes_ended(&mut self, n: u64) {
        let _ = self.passes.wait_for(|&ended| ended >= n).await;
    }

    /// Stops after the message being delivered, if any; the rest wait in the outbox.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Err(e) = (&mut self.task).await {
            tracing::error!("email worker ended abnormally: {e}");
        }
    }
}

async fn run(app: Arc<App>, mut stopped: oneshot::Receiver<()>, passed: watch::Sender<u64>) {
    tracing::info!(
        transport = app.mailer.transport.name(),
        "email worker started"
    );
    loop {
        let full_batch = match deliver_batch(&app, BATCH).await {
            Ok(report) => report.claimed() == BATCH,
            Err(e) => {
                // The database is away; the messages wait in the outbox for the next poll.
                tracing::error!("email delivery: {e:#}");
                false
            }
        };
        if full_batch {
            match stopped.try_recv() {
                Err(oneshot::error::TryRecvError::Empty) => continue,
                _ => break,
            }
        }
        passed.send_modify(|n| *n += 1);
        tokio::select! {
            _ = &mut stopped => break,
            () = app.mailer.wake.notified() => {}
            () = tokio::time::sleep(app.mailer.poll_interval) => {}
        }
    }
    tracing::info!("email worker stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        let delays: Vec<i64> = (1..=10).map(retry_delay_ms).collect();
        assert_eq!(
            delays,
            [
                30_000, 60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000,
                3_600_000, 3_600_000
            ]
        );
        assert_eq!(retry_delay_ms(0), 30_000);
        assert_eq!(retry_delay_ms(i64::MAX), 3_600_000);
    }
}

//! The batched usage writer: records queue in memory and are stored together every
//! `flush_interval` or `flush_records`, whichever comes first, in one `record_usage`
//! transaction. A batch the database refuses because of one bad record is split until the bad
//! record stands alone; it is logged and dropped, the others stored. A batch that fails for any
//! other reason (database unreachable) stays queued and is tried again at the next tick.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;
use tollgate_domain::usage::UsageCost;
use tollgate_store::{StoreError, UsageRecord};

use super::Inner;

/// A record waiting to be stored, with the hold its reservation was taken from.
pub(super) struct Queued {
    pub record: UsageRecord,
    pub hold_id: Option<String>,
}

enum Msg {
    Record(Box<Queued>),
    /// Answered once everything queued before it is stored.
    Flush(oneshot::Sender<()>),
}

pub(super) struct WriterHandle {
    tx: mpsc::UnboundedSender<Msg>,
}

impl WriterHandle {
    pub fn spawn(inner: Arc<Inner>, spent: mpsc::UnboundedSender<BTreeSet<String>>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(inner, rx, spent));
        Self { tx }
    }

    pub fn push(&self, record: UsageRecord, hold_id: Option<String>) {
        if self
            .tx
            .send(Msg::Record(Box::new(Queued { record, hold_id })))
            .is_err()
        {
            tracing::error!("the usage writer has stopped; a usage record is lost");
        }
    }

    /// Waits until everything pushed before this call is stored (or dropped as bad).
    pub async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).is_ok() {
            let _ = stored.await;
        }
    }
}

async fn run(
    inner: Arc<Inner>,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    spent: mpsc::UnboundedSender<BTreeSet<String>>,
) {
    let mut batch: Vec<Queued> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut tick = tokio::time::interval(inner.config.flush_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let mut closed = false;
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Record(q)) => {
                    batch.push(*q);
                    if batch.len() < inner.config.flush_records {
                        continue;
                    }
                }
                Some(Msg::Flush(done)) => waiting.push(done),
                None => closed = true,
            },
            _ = tick.tick() => {}
        }
        if !batch.is_empty() {
            match write(&inner, &batch).await {
                Ok(orgs) => {
                    batch.clear();
                    if !orgs.is_empty() {
                        let _ = spent.send(orgs);
                    }
                }
                Err(e) => {
                    tracing::warn!(records = batch.len(), error = %e, "storing usage failed; will retry");
                    if closed {
                        return;
                    }
                    continue;
                }
            }
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        if closed {
            return;
        }
    }
}

/// Stores `batch`, splitting around records the database refuses. Returns the organizations
/// whose credit went down; an error only when the database could not be used at all.
async fn write(inner: &Inner, batch: &[Queued]) -> Result<BTreeSet<String>, StoreError> {
    let mut spent = BTreeSet::new();
    let mut parts = vec![batch];
    while let Some(part) = parts.pop() {
        match store(inner, part).await {
            Ok(()) => spent.extend(
                part.iter()
                    .filter(|q| q.record.cost > UsageCost::ZERO)
                    .map(|q| q.record.org_id.clone()),
            ),
            Err(e) if e.is_refused_data() && part.len() > 1 => {
                let (a, b) = part.split_at(part.len() / 2);
                parts.push(b);
                parts.push(a);
            }
            Err(e) if e.is_refused_data() => {
                let r = &part[0].record;
                tracing::error!(id = %r.id, org = %r.org_id, error = %e, "usage record refused by the database; dropped");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(spent)
}

/// One transaction: the records and their debits, then the holds they were reserved from are
/// released.
async fn store(inner: &Inner, part: &[Queued]) -> Result<(), StoreError> {
    let records: Vec<UsageRecord> = part.iter().map(|q| q.record.clone()).collect();
    let now = inner.clock.now_ms();
    inner.store.record_usage(&records, now).await?;
    for hold_id in part.iter().filter_map(|q| q.hold_id.as_deref()) {
        if let Err(e) = inner.store.release_hold(hold_id, now).await {
            tracing::warn!(hold = %hold_id, error = %e, "releasing a settled hold failed; it expires by itself");
        }
    }
    Ok(())
}

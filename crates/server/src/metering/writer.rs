//! The batched usage writer: records queue in memory and are stored together every
//! `flush_interval` or `flush_records`, whichever comes first, in one `record_usage`
//! transaction. A batch the database refuses because of one bad record is split until the bad
//! record stands alone; it is logged and dropped, the others stored. A batch that fails for any
//! other reason (database unreachable) stays queued and is tried again at the next tick.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{oneshot, Notify};
use tokio::time::MissedTickBehavior;
use tollgate_domain::limits::spend::SpendScope;
use tollgate_domain::usage::UsageCost;
use tollgate_domain::OrgId;
use tollgate_store::{SpendHolds, StoreError, UsageRecord};

use super::lease::{Credit, Lease};
use super::{Inner, SpendLease};

/// A record waiting to be stored, with the leases its reservation was taken from.
pub(super) struct Queued {
    pub record: UsageRecord,
    pub lease: Option<Arc<Lease<Credit>>>,
    pub spend: Vec<(SpendScope, SpendLease)>,
}

/// What requests hand the writer, under one lock: pushing a record is a push onto a vector,
/// not a message that wakes the writer's task (at thousands of requests a second, a wake per
/// record is a context switch per request). The writer takes everything at its tick, or at
/// once when `flush_records` are queued or someone waits for a flush.
#[derive(Default)]
struct Queue {
    records: Vec<Queued>,
    /// Answered once everything queued before them is stored.
    waiting: Vec<oneshot::Sender<()>>,
    /// The handle is gone: store what is queued and stop.
    closed: bool,
    /// The writer's task has ended (closed, or it panicked): nothing queued now is stored.
    stopped: bool,
}

#[derive(Default)]
struct Shared {
    queue: Mutex<Queue>,
    wake: Notify,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

pub(super) struct WriterHandle {
    shared: Arc<Shared>,
    flush_records: usize,
}

impl WriterHandle {
    pub fn spawn(inner: Arc<Inner>) -> Self {
        let shared = Arc::new(Shared::default());
        let flush_records = inner.config.flush_records;
        tokio::spawn(run(inner, shared.clone()));
        Self {
            shared,
            flush_records,
        }
    }

    pub fn push(
        &self,
        record: UsageRecord,
        lease: Option<Arc<Lease<Credit>>>,
        spend: Vec<(SpendScope, SpendLease)>,
    ) {
        let full = {
            let mut queue = self.shared.queue();
            if queue.stopped {
                drop(queue);
                tracing::error!("the usage writer has stopped; a usage record is lost");
                return;
            }
            queue.records.push(Queued {
                record,
                lease,
                spend,
            });
            queue.records.len() >= self.flush_records
        };
        if full {
            self.shared.wake.notify_one();
        }
    }

    /// Waits until everything pushed before this call is stored (or dropped as bad).
    pub async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        {
            let mut queue = self.shared.queue();
            if queue.stopped {
                return;
            }
            queue.waiting.push(done);
        }
        self.shared.wake.notify_one();
        let _ = stored.await;
    }
}

impl Drop for WriterHandle {
    fn drop(&mut self) {
        self.shared.queue().closed = true;
        self.shared.wake.notify_one();
    }
}

/// Marks the writer stopped when its task ends, however it ends: later records are refused
/// with an error in the log rather than queued forever, and no flush waits for it.
struct StopsOnExit(Arc<Shared>);

impl Drop for StopsOnExit {
    fn drop(&mut self) {
        let mut queue = self.0.queue();
        queue.stopped = true;
        queue.waiting.clear();
    }
}

async fn run(inner: Arc<Inner>, shared: Arc<Shared>) {
    let _stops = StopsOnExit(shared.clone());
    let mut batch: Vec<Queued> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut tick = tokio::time::interval(inner.config.flush_interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shared.wake.notified() => {}
            _ = tick.tick() => {}
        }
        let closed = {
            let mut queue = shared.queue();
            batch.append(&mut queue.records);
            waiting.append(&mut queue.waiting);
            queue.closed
        };
        if !batch.is_empty() {
            let (orgs, outcome) = write(&inner, &mut batch).await;
            // Before any `flush` waiter is answered: what the hook starts is already running.
            if let (false, Some(hook)) = (orgs.is_empty(), inner.after_spent.get()) {
                hook(orgs);
            }
            if let Err(e) = outcome {
                tracing::warn!(records = batch.len(), error = %e, "storing usage failed; will retry");
                if closed {
                    return;
                }
                continue;
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

/// Stores `batch`, splitting around records the database refuses, and removes from it what
/// is done (stored, or refused and dropped): on an error (the database could not be used at
/// all) the rest stays for the next try, and nothing is settled twice in memory. Returns the
/// organizations whose credit went down.
async fn write(
    inner: &Inner,
    batch: &mut Vec<Queued>,
) -> (BTreeSet<OrgId>, Result<(), StoreError>) {
    let mut spent = BTreeSet::new();
    let mut finished = vec![false; batch.len()];
    let mut parts = Vec::new();
    parts.push(0..batch.len());
    let mut outcome = Ok(());
    while let Some(range) = parts.pop() {
        let part = &batch[range.clone()];
        match store(inner, part).await {
            Ok(()) => spent.extend(
                part.iter()
                    .filter(|q| q.record.cost > UsageCost::ZERO)
                    .map(|q| q.record.org_id.clone()),
            ),
            Err(e) if e.is_refused_data() && part.len() > 1 => {
                let mid = range.start + part.len() / 2;
                parts.push(mid..range.end);
                parts.push(range.start..mid);
                continue;
            }
            Err(e) if e.is_refused_data() => {
                let r = &part[0].record;
                dropped(&part[0]);
                tracing::error!(id = %r.id, org = %r.org_id, error = %e, "usage record refused by the database; dropped");
            }
            Err(e) => {
                outcome = Err(e);
                break;
            }
        }
        finished[range].fill(true);
    }
    let mut done = finished.into_iter();
    batch.retain(|_| !done.next().unwrap_or(false));
    (spent, outcome)
}

/// One transaction: the records, their debits, and the shrinking of the holds they were
/// reserved from; then the leases in memory learn it.
async fn store(inner: &Inner, part: &[Queued]) -> Result<(), StoreError> {
    let records: Vec<UsageRecord> = part.iter().map(|q| q.record.clone()).collect();
    // The lease's hold as it is now: a hold replaced since the request (the old one lost)
    // was sized to cover this record too.
    let hold_ids: Vec<Option<String>> = part
        .iter()
        .map(|q| q.lease.as_ref().and_then(|l| l.hold_id()))
        .collect();
    let holds: Vec<Option<&str>> = hold_ids.iter().map(Option::as_deref).collect();
    let spend_holds: Vec<SpendHolds> = part
        .iter()
        .map(|q| {
            q.spend
                .iter()
                .filter_map(|(scope, l)| Some((*scope, l.hold_id()?)))
                .collect()
        })
        .collect();
    let recorded = inner
        .store
        .record_usage_on_leases(&records, &holds, &spend_holds, inner.clock.now_ms())
        .await?;
    for (id, reason) in &recorded.rejected {
        tracing::error!(%id, %reason, "usage record refused by the ledger; dropped");
    }
    for q in part {
        let stored = !recorded.rejected.iter().any(|(id, _)| *id == q.record.id);
        settled(q, stored);
    }
    Ok(())
}

/// The leases learn that a record was stored (their holds shrank by its cost) or not.
fn settled(q: &Queued, stored: bool) {
    let cost = q.record.cost.ceil();
    if let Some(lease) = &q.lease {
        lease.settled(cost, stored);
    }
    for (_, lease) in &q.spend {
        lease.settled(cost, stored);
    }
}

/// A record the database refused: its cost no longer waits on the leases.
fn dropped(q: &Queued) {
    settled(q, false);
}

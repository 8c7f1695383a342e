//! Credit and spend-limit admission and usage metering for the gateway (DESIGN §2, decisions
//! 0013 and 0018).
//!
//! `reserve` admits a request against this process's lease of the organization's credit
//! ([`lease`]: a ledger hold taken in advance, sized by recent demand) and against its leases
//! of each monthly spend limit the request falls under (spend holds, the same machinery);
//! `record` hands the
//! usage record to a batched background writer ([`writer`]), which stores it exactly once (by
//! record id) and, in the same transaction, debits its cost, adds it to the month's spend and
//! shrinks the leases' holds by it. The database is written per lease growth and per batch, never per request.

mod lease;
mod writer;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tollgate_domain::limits::spend::SpendScope;
use tollgate_domain::{Clock, Money, OrgId};
use tollgate_store::{SpendPeriod, Store, UsageRecord};

use crate::app::App;

/// Timings of the metering machinery.
#[derive(Debug, Clone)]
pub struct MeteringConfig {
    /// The writer stores what was recorded at least this often: after `kill -9`, at most the
    /// records of the last interval (and the batch being written) are lost.
    pub flush_interval: Duration,
    /// …or as soon as this many records wait.
    pub flush_records: usize,
    /// How long a credit lease lives unless renewed: the longest credit stays reserved by a
    /// process that died.
    pub hold_ttl: Duration,
    /// How often leases give back what recent demand does not use and are renewed, and
    /// expired holds (of dead processes) are released.
    pub lease_tick: Duration,
    /// On shutdown, the longest storing the last records — and then returning the leases —
    /// may take: with the database down, the records still queued are lost (and logged) and
    /// the leases expire by themselves, rather than the process never stopping.
    pub shutdown_timeout: Duration,
}

impl Default for MeteringConfig {
    fn default() -> Self {
        Self {
            // 100 rather than 50: half the commits (each a WAL flush on PostgreSQL), and a
            // lower p99 through the gateway on both engines (docs/gateway.md, run 14).
            flush_interval: Duration::from_millis(100),
            flush_records: 1_000,
            hold_ttl: Duration::from_secs(60),
            lease_tick: Duration::from_secs(1),
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

/// One per process, built in `App::new`, reachable as `app.metering`.
pub struct Metering {
    inner: Arc<Inner>,
    writer: writer::WriterHandle,
}

/// Told, by the writer, of the organizations whose credit went down in a batch it stored,
/// before anyone waiting on `flush` is answered (set once by `spawn`: spend alerts and
/// auto-recharge, `App::after_usage`).
type SpentHook = Box<dyn Fn(BTreeSet<OrgId>) + Send + Sync>;

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    config: MeteringConfig,
    leases: lease::Leases<lease::Credit>,
    spend_leases: lease::Leases<SpendPeriod>,
    after_spent: OnceLock<SpentHook>,
    /// Shutting down: leases are being returned and must not grow again.
    closing: AtomicBool,
}

type SpendLease = Arc<lease::Lease<SpendPeriod>>;

/// Credit (and spend-limit headroom) reserved for one request. Dropping it unsettled returns
/// it (to the leases).
pub struct CreditReservation {
    /// The lease it was taken from; `None` once settled (or for a free request).
    lease: Option<Arc<lease::Lease<lease::Credit>>>,
    /// The spend leases it was taken from, by scope; emptied once settled.
    spend: Vec<(SpendScope, SpendLease)>,
    amount: Money,
}

impl CreditReservation {
    /// The most the request may cost.
    pub fn amount(&self) -> Money {
        self.amount
    }
}

impl Drop for CreditReservation {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            lease.give_back(self.amount);
        }
        for (_, lease) in self.spend.drain(..) {
            lease.give_back(self.amount);
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreditRefusal {
    /// Not enough available credit (balance − holds − other reservations) for `needed`.
    #[error("insufficient credit")]
    Insufficient { needed: Money, available: Money },
    /// The month's spend limit of `scope` leaves less than `needed` (limit − spent − what
    /// running requests reserve).
    #[error("spend limit reached")]
    SpendLimit {
        scope: SpendScope,
        needed: Money,
        available: Money,
    },
    /// The store could not be reached to take a lease: the gateway answers 503.
    #[error("credit cannot be checked right now")]
    Unavailable,
}

impl Metering {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: MeteringConfig) -> Self {
        let inner = Arc::new(Inner {
            store,
            clock,
            config,
            leases: lease::Leases::default(),
            spend_leases: lease::Leases::default(),
            after_spent: OnceLock::new(),
            closing: AtomicBool::new(false),
        });
        Self {
            writer: writer::WriterHandle::spawn(inner.clone()),
            inner,
        }
    }

    /// Reserves the most this request can cost for `org_id` (pay-as-you-go only), first in
    /// each spend limit's month it falls under (`spend_limited`), then in the organization's
    /// credit. Against this process's in-memory leases; touches the database only to take or
    /// top up a lease, never once per request.
    pub async fn reserve(
        &self,
        org_id: &OrgId,
        max_cost: Money,
        spend_limited: &[SpendPeriod],
    ) -> Result<CreditReservation, CreditRefusal> {
        let mut reservation = CreditReservation {
            lease: None,
            spend: Vec::new(),
            amount: Money::ZERO,
        };
        if !max_cost.is_positive() {
            return Ok(reservation);
        }
        reservation.amount = max_cost;
        for period in spend_limited {
            let lease = self
                .inner
                .spend_leases
                .reserve(&self.inner, period, max_cost)
                .await
                .map_err(|refusal| match refusal {
                    CreditRefusal::Insufficient { needed, available } => {
                        CreditRefusal::SpendLimit {
                            scope: period.scope,
                            needed,
                            available,
                        }
                    }
                    other => other,
                })?;
            reservation.spend.push((period.scope, lease));
        }
        let lease = self
            .inner
            .leases
            .reserve(&self.inner, &lease::Credit(org_id.clone()), max_cost)
            .await?;
        reservation.lease = Some(lease);
        Ok(reservation)
    }

    /// One finished request, whatever its outcome (success, upstream error, timeout, client
    /// disconnect): queues `record` for the batched writer (exactly once, by `record.id`) and
    /// settles `reservation` (if any) at `record.cost`, the rest going back. Never blocks, never
    /// fails the request.
    pub fn record(&self, record: UsageRecord, reservation: Option<CreditReservation>) {
        let cost = record.cost.ceil();
        let (lease, spend) = match reservation {
            Some(mut r) => {
                let lease = r.lease.take();
                if let Some(lease) = &lease {
                    lease.finish(r.amount, cost);
                }
                let spend = std::mem::take(&mut r.spend);
                for (_, lease) in &spend {
                    lease.finish(r.amount, cost);
                }
                (lease, spend)
            }
            None => (None, Vec::new()),
        };
        self.writer.push(record, lease, spend);
    }

    /// Returns once everything recorded so far is in the database (tests; SIGTERM shutdown).
    pub async fn flush(&self) {
        self.writer.flush().await;
    }

    /// On shutdown (SIGTERM), once no request runs: stores everything recorded, then returns
    /// the leases — each within `shutdown_timeout`, so that a database that is down cannot
    /// keep the process from stopping.
    pub async fn shutdown(&self) {
        let bound = self.inner.config.shutdown_timeout;
        if tokio::time::timeout(bound, self.flush()).await.is_err() {
            tracing::error!(
                waited = ?bound,
                "the database did not take the last usage records; they are lost (their credit leases expire by themselves)"
            );
            return;
        }
        // A growth ahead of need started by the last requests must not take a hold back.
        self.inner.closing.store(true, Ordering::Release);
        if tokio::time::timeout(bound, self.inner.leases.release_all(&self.inner))
            .await
            .is_err()
        {
            tracing::warn!(waited = ?bound, "returning the credit leases did not finish; they expire by themselves");
        }
        if tokio::time::timeout(bound, self.inner.spend_leases.release_all(&self.inner))
            .await
            .is_err()
        {
            tracing::warn!(waited = ?bound, "returning the spend leases did not finish; they expire by themselves");
        }
    }

    /// Organizations this process keeps a credit lease for (idle ones are forgotten).
    pub fn leases_kept(&self) -> usize {
        self.inner.leases.len()
    }

    /// One round of lease upkeep (the periodic job runs it; tests call it to not wait).
    pub async fn tick(&self) -> anyhow::Result<()> {
        self.inner.leases.tick(&self.inner).await?;
        self.inner.spend_leases.tick(&self.inner).await?;
        let now = self.inner.clock.now_ms();
        self.inner.store.expire_holds(now).await?;
        self.inner.store.expire_spend_holds(now).await?;
        Ok(())
    }
}

/// The jobs of metering, once per process: lease upkeep every `lease_tick` (see
/// `Metering::tick`), and auto-recharge after gateway spending, as after reported usage
/// (`App::after_usage`).
pub fn spawn(app: Arc<App>) -> Vec<tokio::task::JoinHandle<()>> {
    let upkeep = {
        let app = app.clone();
        crate::jobs::spawn_periodic("credit leases", app.config.metering.lease_tick, move || {
            let app = app.clone();
            async move {
                app.metering.tick().await?;
                Ok(None)
            }
        })
    };
    // Weak: the hook lives inside the app it calls.
    let weak = Arc::downgrade(&app);
    let hook: SpentHook = Box::new(move |orgs| {
        if let Some(app) = weak.upgrade() {
            app.after_usage(orgs);
        }
    });
    if app.metering.inner.after_spent.set(hook).is_err() {
        tracing::warn!("metering jobs started twice; the second does nothing");
    }
    vec![upkeep]
}

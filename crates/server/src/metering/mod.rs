//! Credit admission and usage metering for the gateway (DESIGN §2, decision 0013).
//!
//! `reserve` admits a request against the organization's credit and `record` hands its usage
//! record to a batched background writer ([`writer`]), which stores it exactly once (by record
//! id) through the multi-row `record_usage` path and settles the reservation at the real cost.

mod writer;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tollgate_domain::{Clock, Money};
use tollgate_store::{Store, UsageRecord};

use crate::app::App;
use crate::config::millis;

/// Timings of the metering machinery.
#[derive(Debug, Clone)]
pub struct MeteringConfig {
    /// The writer stores what was recorded at least this often: after `kill -9`, at most the
    /// records of the last interval (and the batch being written) are lost.
    pub flush_interval: Duration,
    /// …or as soon as this many records wait.
    pub flush_records: usize,
    /// How long a credit hold lives unless renewed: the longest credit stays reserved by a
    /// process that died.
    pub hold_ttl: Duration,
}

impl Default for MeteringConfig {
    fn default() -> Self {
        Self {
            flush_interval: Duration::from_millis(200),
            flush_records: 1_000,
            hold_ttl: Duration::from_secs(60),
        }
    }
}

/// One per process, built in `App::new`, reachable as `app.metering`.
pub struct Metering {
    inner: Arc<Inner>,
    writer: writer::WriterHandle,
    /// Organizations whose credit went down, for auto-recharge (`spawn` takes it).
    spent: std::sync::Mutex<Option<mpsc::UnboundedReceiver<BTreeSet<String>>>>,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    config: MeteringConfig,
}

/// Credit reserved for one request. Dropping it unsettled returns it.
pub struct CreditReservation {
    inner: Arc<Inner>,
    /// The ledger hold; `None` once settled or returned.
    hold_id: Option<String>,
    amount: Money,
}

impl CreditReservation {
    /// The most the request may cost.
    pub fn amount(&self) -> Money {
        self.amount
    }

    /// Takes the hold out, so that dropping the reservation no longer returns it.
    fn take_hold(&mut self) -> Option<String> {
        self.hold_id.take()
    }
}

impl Drop for CreditReservation {
    fn drop(&mut self) {
        let Some(hold_id) = self.hold_id.take() else {
            return;
        };
        let inner = self.inner.clone();
        // Outside a runtime (never in the server) the hold simply expires.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let now = inner.clock.now_ms();
                if let Err(e) = inner.store.release_hold(&hold_id, now).await {
                    tracing::warn!(hold = %hold_id, error = %e, "returning a reservation failed; it expires by itself");
                }
            });
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreditRefusal {
    /// Not enough available credit (balance − holds − other reservations) for `needed`.
    #[error("insufficient credit")]
    Insufficient { needed: Money, available: Money },
    /// The store could not be reached to take a lease: the gateway answers 503.
    #[error("credit cannot be checked right now")]
    Unavailable,
}

impl Metering {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: MeteringConfig) -> Self {
        let (spent_tx, spent_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            store,
            clock,
            config,
        });
        Self {
            writer: writer::WriterHandle::spawn(inner.clone(), spent_tx),
            inner,
            spent: std::sync::Mutex::new(Some(spent_rx)),
        }
    }

    /// Reserves the most this request can cost for `org_id` (pay-as-you-go only).
    pub async fn reserve(
        &self,
        org_id: &str,
        max_cost: Money,
    ) -> Result<CreditReservation, CreditRefusal> {
        let amount = max_cost.micros();
        if amount <= 0 {
            return Ok(CreditReservation {
                inner: self.inner.clone(),
                hold_id: None,
                amount: Money::ZERO,
            });
        }
        let store = &self.inner.store;
        let now = self.inner.clock.now_ms();
        let placed = store
            .place_hold(org_id, amount, millis(self.inner.config.hold_ttl), now)
            .await
            .map_err(|e| {
                tracing::warn!(org = %org_id, error = %e, "cannot reserve credit");
                CreditRefusal::Unavailable
            })?;
        match placed {
            Some(hold_id) => Ok(CreditReservation {
                inner: self.inner.clone(),
                hold_id: Some(hold_id),
                amount: max_cost,
            }),
            None => {
                let available = store
                    .credit_account(org_id)
                    .await
                    .map_err(|_| CreditRefusal::Unavailable)?
                    .available();
                Err(CreditRefusal::Insufficient {
                    needed: max_cost,
                    available: Money::from_micros(available.max(0)),
                })
            }
        }
    }

    /// One finished request, whatever its outcome: queues `record` for the batched writer
    /// (exactly once, by `record.id`) and settles `reservation` (if any) at `record.cost`, the
    /// rest going back. Never blocks, never fails the request.
    pub fn record(&self, record: UsageRecord, reservation: Option<CreditReservation>) {
        let hold_id = reservation.and_then(|mut r| r.take_hold());
        self.writer.push(record, hold_id);
    }

    /// Returns once everything recorded so far is in the database (tests; SIGTERM shutdown).
    pub async fn flush(&self) {
        self.writer.flush().await;
    }

    /// On shutdown: stores everything recorded and returns what is still reserved.
    pub async fn shutdown(&self) {
        self.flush().await;
    }
}

/// The jobs that need the whole app: auto-recharge after gateway spending, as after reported
/// usage (`App::after_usage`). Call once per process.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    let spent = app
        .metering
        .spent
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take();
    tokio::spawn(async move {
        let Some(mut spent) = spent else {
            tracing::warn!("metering jobs started twice; the second does nothing");
            return;
        };
        while let Some(orgs) = spent.recv().await {
            app.after_usage(orgs);
        }
    })
}

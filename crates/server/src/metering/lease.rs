//! This process's leases: credit leases, one per organization (a ledger hold taken in
//! advance, decision 0013), and spend-limit leases, one per limited scope and month (a spend
//! hold, decision 0018). Requests are admitted against them in memory; both kinds share this
//! machinery and differ only in the store calls of their [`Pool`].
//!
//! Memory never believes in more than the hold reserves in the database: an amount leaves the
//! in-memory lease before the database is told (a shrink), and joins it only after the
//! database said yes (a growth). So whatever this process admits is covered by its holds, and
//! the holds of all processes together never exceed what the pool has (the store checks under
//! a lock at every growth): no overspend, on any number of processes.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use tollgate_domain::{Money, OrgId};
use tollgate_store::{HoldOf, LeaseGrowth, LeaseSizing, SpendPeriod};

use super::{CreditRefusal, Inner};
use crate::config::millis;

/// Never lease more than a quarter of what the pool has available (unless one request needs
/// more): the other processes find three quarters, and as the pool runs low leases shrink to
/// single requests.
const SHARE_DIVISOR: i64 = 4;

/// What a lease reserves from: the store's name of its hold's pool, whose calls
/// (`Store::grow_hold`, `shrink_hold`, `renew_hold`, `release_lease_hold`) change the hold.
pub(super) trait Pool: Clone + Eq + Hash + Debug + Send + Sync + 'static {
    fn hold_of(&self) -> HoldOf<'_>;
}

/// An organization's credit (its balance less every hold).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Credit(pub OrgId);

impl Pool for Credit {
    fn hold_of(&self) -> HoldOf<'_> {
        HoldOf::Credit(&self.0)
    }
}

/// A spend limit's month (its limit less what was spent and every hold).
impl Pool for SpendPeriod {
    fn hold_of(&self) -> HoldOf<'_> {
        HoldOf::Spend(self)
    }
}

/// One lease in this process.
pub(super) struct Lease<P> {
    pool: P,
    state: Mutex<LeaseState>,
    /// Serialises the database calls that change the hold (grow, shrink, renew), so that a
    /// burst of requests that find the lease short waits for one growth instead of each taking
    /// its own.
    resizing: tokio::sync::Mutex<()>,
}

/// What one lease holds and owes, as this process knows it. The arithmetic is checked; an
/// overflow (out of reach below $9.2 trillion) errs toward believing less is free, never more:
/// a growth it cannot add is not counted, a reservation it cannot add is refused, one it
/// cannot take off stays.
#[derive(Default)]
struct LeaseState {
    hold_id: Option<String>,
    /// What the hold reserves, as far as this process knows (never more than the database's).
    granted: Money,
    /// Reserved by requests still running.
    in_flight: Money,
    /// Cost of finished requests not yet stored: the writer's next batch shrinks the hold by it.
    pending: Money,
    /// Reservations waiting for a growth, so that one growth covers them all.
    waiting: Money,
    /// Reserved since the last tick, and in the tick before: the demand a lease is sized for.
    demand: Money,
    last_demand: Money,
    /// When the hold expires unless renewed (the app clock's milliseconds).
    expires_at: i64,
    /// A growth ahead of need is on its way (`grow_ahead`): no second one is started.
    growing_ahead: bool,
}

/// `*amount − by`, or `*amount` unchanged on overflow (see [`LeaseState`]).
fn take_off(amount: &mut Money, by: Money) {
    if let Some(less) = amount.checked_sub(by) {
        *amount = less;
    }
}

impl LeaseState {
    /// Granted less what runs and what waits to be stored; nothing on overflow.
    fn free(&self) -> Money {
        self.granted
            .checked_sub(self.in_flight)
            .and_then(|f| f.checked_sub(self.pending))
            .unwrap_or(Money::ZERO)
    }

    fn take(&mut self, amount: Money) -> bool {
        if self.free() < amount {
            return false;
        }
        let Some(in_flight) = self.in_flight.checked_add(amount) else {
            return false;
        };
        self.in_flight = in_flight;
        self.demand = self.demand.saturating_add(amount);
        true
    }

    /// A tick of recent demand: what the lease is sized to hold free.
    fn tick_demand(&self) -> Money {
        self.last_demand.max(self.demand)
    }

    /// Less than half a tick of demand is left free and no growth is under way: time to grow
    /// before a request finds the lease short and has to wait for the database. Marks the
    /// growth as started when it answers yes.
    fn claim_growth_ahead(&mut self) -> bool {
        let low = self.tick_demand().checked_div(2).unwrap_or(Money::ZERO);
        if self.growing_ahead
            || self.waiting.is_positive()
            || !low.is_positive()
            || self.free() >= low
        {
            return false;
        }
        self.growing_ahead = true;
        true
    }

    /// What the database granted: a new hold replaces what memory thought the old one held.
    fn grown(&mut self, hold_id: String, added: Money, expires_at: i64) {
        if self.hold_id.as_deref() != Some(hold_id.as_str()) {
            // A new hold: the old one is gone, and what memory thought it held with it.
            self.lost();
            self.hold_id = Some(hold_id);
        }
        // Not counted on overflow: memory then believes in less than the hold reserves.
        if let Some(granted) = self.granted.checked_add(added) {
            self.granted = granted;
        }
        self.expires_at = expires_at;
    }

    /// Nothing held, running, waiting or recently asked for: the lease can be forgotten.
    fn forgettable(&self) -> bool {
        self.hold_id.is_none()
            && self.in_flight == Money::ZERO
            && self.pending == Money::ZERO
            && self.waiting == Money::ZERO
            && self.demand == Money::ZERO
            && self.last_demand == Money::ZERO
    }

    /// The hold is gone (expired while this process stalled, or used up): what memory
    /// thought it held is no longer reserved.
    fn lost(&mut self) {
        self.hold_id = None;
        self.granted = Money::ZERO;
    }
}

impl<P> Lease<P> {
    fn lock(&self) -> std::sync::MutexGuard<'_, LeaseState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn hold_id(&self) -> Option<String> {
        self.lock().hold_id.clone()
    }

    /// A reservation ended without a record: its credit is free again.
    pub fn give_back(&self, amount: Money) {
        take_off(&mut self.lock().in_flight, amount);
    }

    /// A request finished: its reservation ends and its cost waits for the writer.
    pub fn finish(&self, reserved: Money, cost: Money) {
        let mut s = self.lock();
        take_off(&mut s.in_flight, reserved);
        s.pending = s.pending.saturating_add(cost);
    }

    /// The writer stored a record of `cost` (the hold shrank by it, up to what was left) or
    /// dropped it (`stored` false: the hold is untouched and the credit free again).
    pub fn settled(&self, cost: Money, stored: bool) {
        let mut s = self.lock();
        take_off(&mut s.pending, cost);
        if stored {
            s.granted = s.granted.saturating_sub(cost).max(Money::ZERO);
        }
    }
}

/// Every lease of one kind in this process.
pub(super) struct Leases<P> {
    by_pool: Mutex<HashMap<P, Arc<Lease<P>>>>,
}

impl<P> Default for Leases<P> {
    fn default() -> Self {
        Self {
            by_pool: Mutex::default(),
        }
    }
}

impl<P: Pool> Leases<P> {
    fn get(&self, pool: &P) -> Arc<Lease<P>> {
        let mut map = self.by_pool.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(pool.clone())
            .or_insert_with(|| {
                Arc::new(Lease {
                    pool: pool.clone(),
                    state: Mutex::default(),
                    resizing: tokio::sync::Mutex::new(()),
                })
            })
            .clone()
    }

    fn all(&self) -> Vec<Arc<Lease<P>>> {
        let map = self.by_pool.lock().unwrap_or_else(PoisonError::into_inner);
        map.values().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.by_pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Forgets leases that hold nothing, had no demand for two ticks and that no request
    /// refers to (a past month's spend leases, organizations gone quiet).
    fn forget_unused(&self) {
        let mut map = self.by_pool.lock().unwrap_or_else(PoisonError::into_inner);
        // Only a lease nobody else holds goes: `get` clones under the same lock, so no request
        // can be admitted against a forgotten one.
        map.retain(|_, lease| Arc::strong_count(lease) > 1 || !lease.lock().forgettable());
    }

    /// Reserves `amount` against the pool's lease, growing it when short — and, when it runs
    /// low, in the background before it is short, so that under steady demand no request
    /// waits for the database.
    pub async fn reserve(
        &self,
        inner: &Arc<Inner>,
        pool: &P,
        amount: Money,
    ) -> Result<Arc<Lease<P>>, CreditRefusal> {
        let lease = self.get(pool);
        let (taken, ahead) = {
            let mut s = lease.lock();
            let taken = s.take(amount);
            (taken, taken && s.claim_growth_ahead())
        };
        if ahead {
            tokio::spawn(grow_ahead(inner.clone(), lease.clone()));
        }
        if taken {
            return Ok(lease);
        }
        let waits = {
            let mut s = lease.lock();
            match s.waiting.checked_add(amount) {
                Some(waiting) => {
                    s.waiting = waiting;
                    true
                }
                None => false,
            }
        };
        let resizing = lease.resizing.lock().await;
        let outcome = self.grow_and_take(inner, &lease, amount).await;
        if waits {
            take_off(&mut lease.lock().waiting, amount);
        }
        drop(resizing);
        outcome.map(|()| lease)
    }

    async fn grow_and_take(
        &self,
        inner: &Inner,
        lease: &Lease<P>,
        amount: Money,
    ) -> Result<(), CreditRefusal> {
        let (hold_id, sizing) = {
            let mut s = lease.lock();
            // Another request's growth may have covered this one meanwhile.
            if s.take(amount) {
                return Ok(());
            }
            // `take` refused, so `free < amount`: the need is positive.
            let Some(need) = amount.checked_sub(s.free()) else {
                return Err(CreditRefusal::Unavailable);
            };
            // Enough for everyone waiting, or for a tick of recent demand.
            let others = s.waiting.checked_sub(amount).unwrap_or(Money::ZERO);
            let want = need.saturating_add(others).max(s.tick_demand());
            (
                s.hold_id.clone(),
                LeaseSizing {
                    need,
                    want,
                    share_divisor: SHARE_DIVISOR,
                },
            )
        };
        let now = inner.clock.now_ms();
        let ttl = millis(inner.config.hold_ttl);
        let grown = inner
            .store
            .grow_hold(lease.pool.hold_of(), hold_id.as_deref(), sizing, ttl, now)
            .await
            .map_err(|e| {
                tracing::warn!(pool = ?lease.pool, error = %e, "cannot grow a lease");
                CreditRefusal::Unavailable
            })?;
        let mut s = lease.lock();
        match grown {
            LeaseGrowth::Granted { hold_id: id, added } => {
                s.grown(id, added, now.saturating_add(ttl));
                if s.take(amount) {
                    Ok(())
                } else {
                    // Only when the old hold was lost with requests still running on it: the
                    // new one covered them first.
                    Err(CreditRefusal::Insufficient {
                        needed: amount,
                        available: s.free().max(Money::ZERO),
                    })
                }
            }
            LeaseGrowth::Refused { available } => Err(CreditRefusal::Insufficient {
                needed: amount,
                available: available
                    .max(Money::ZERO)
                    .saturating_add(s.free().max(Money::ZERO)),
            }),
        }
    }

    /// Once per tick: gives back what recent demand does not use, renews holds that would
    /// expire within half their lifetime, and forgets holds that are gone.
    pub async fn tick(&self, inner: &Inner) -> anyhow::Result<()> {
        let ttl = millis(inner.config.hold_ttl);
        for lease in self.all() {
            let _resizing = lease.resizing.lock().await;
            let now = inner.clock.now_ms();
            let (hold_id, surplus, renew, idle) = {
                let mut s = lease.lock();
                let Some(hold_id) = s.hold_id.clone() else {
                    s.last_demand = std::mem::take(&mut s.demand);
                    continue;
                };
                let recent = std::mem::take(&mut s.demand);
                // Keep what the last tick used; an idle lease gives everything back.
                let surplus = s
                    .free()
                    .checked_sub(recent)
                    .unwrap_or(Money::ZERO)
                    .max(Money::ZERO);
                s.last_demand = recent;
                // Leaves memory before the database, so no request is admitted against it
                // (`surplus ≤ free ≤ granted`: nothing to give back on overflow).
                let (surplus, granted) = match s.granted.checked_sub(surplus) {
                    Some(granted) => (surplus, granted),
                    None => (Money::ZERO, s.granted),
                };
                s.granted = granted;
                let idle = s.granted == Money::ZERO
                    && s.in_flight == Money::ZERO
                    && s.pending == Money::ZERO;
                (hold_id, surplus, s.expires_at - now < ttl / 2, idle)
            };
            if idle {
                // Nothing runs on it and nothing waits to be stored: the whole hold goes back,
                // whatever the database has in it.
                inner
                    .store
                    .release_lease_hold(lease.pool.hold_of(), &hold_id, now)
                    .await?;
                lease.lock().lost();
            } else if surplus.is_positive() {
                let given = inner
                    .store
                    .shrink_hold(lease.pool.hold_of(), &hold_id, surplus, ttl, now)
                    .await?;
                let mut s = lease.lock();
                if given == Money::ZERO {
                    s.lost();
                } else {
                    s.expires_at = now.saturating_add(ttl);
                }
            } else if renew
                && !inner
                    .store
                    .renew_hold(lease.pool.hold_of(), &hold_id, ttl, now)
                    .await?
            {
                lease.lock().lost();
            } else if renew {
                lease.lock().expires_at = now.saturating_add(ttl);
            }
        }
        self.forget_unused();
        Ok(())
    }

    /// Returns every lease to its pool (shutdown, after the last records are stored).
    pub async fn release_all(&self, inner: &Inner) {
        for lease in self.all() {
            let _resizing = lease.resizing.lock().await;
            let hold_id = {
                let mut s = lease.lock();
                let id = s.hold_id.take();
                s.granted = Money::ZERO;
                id
            };
            if let Some(id) = hold_id {
                if let Err(e) = inner
                    .store
                    .release_lease_hold(lease.pool.hold_of(), &id, inner.clock.now_ms())
                    .await
                {
                    tracing::warn!(hold = %id, error = %e, "returning a lease failed; it expires by itself");
                }
            }
        }
    }
}

/// Grows `lease` to a tick of recent demand ahead of need (see `claim_growth_ahead`). Nothing
/// waits on it: a refusal or an error leaves the lease as it was, and the next request short
/// of credit grows it (and is refused) as usual.
async fn grow_ahead<P: Pool>(inner: Arc<Inner>, lease: Arc<Lease<P>>) {
    let resizing = lease.resizing.lock().await;
    let closing = inner.closing.load(std::sync::atomic::Ordering::Acquire);
    let plan = {
        let s = lease.lock();
        if closing {
            None
        } else {
            let want = s.tick_demand().saturating_sub(s.free().max(Money::ZERO));
            want.is_positive().then(|| {
                (
                    s.hold_id.clone(),
                    LeaseSizing {
                        need: Money::from_micros(1),
                        want,
                        share_divisor: SHARE_DIVISOR,
                    },
                )
            })
        }
    };
    if let Some((hold_id, sizing)) = plan {
        let now = inner.clock.now_ms();
        let ttl = millis(inner.config.hold_ttl);
        match inner
            .store
            .grow_hold(lease.pool.hold_of(), hold_id.as_deref(), sizing, ttl, now)
            .await
        {
            Ok(LeaseGrowth::Granted { hold_id: id, added }) => {
                lease.lock().grown(id, added, now.saturating_add(ttl));
            }
            Ok(LeaseGrowth::Refused { .. }) => {}
            Err(e) => {
                tracing::warn!(pool = ?lease.pool, error = %e, "cannot grow a lease ahead of need")
            }
        }
    }
    lease.lock().growing_ahead = false;
    drop(resizing);
}

#[cfg(test)]
mod tests;

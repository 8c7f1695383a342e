//! What this process holds of one shared bucket: the slice it leased and has not spent, the
//! bucket as last seen, and the recent demand that sizes the next lease.

use tollgate_domain::limits::{Bucket, BucketState};
use tollgate_domain::Timestamp;

use super::Gauge;

/// What this process holds of one shared bucket.
#[derive(Debug)]
pub(super) struct Local {
    pub(super) shape: Bucket,
    /// Leased and not yet spent (unit·ms); negative while a correction is owed.
    pub(super) allowance: i64,
    /// The shared bucket as last seen, for headers and `Retry-After`.
    pub(super) seen: Option<BucketState>,
    /// The shared bucket held too little until then: refuse without asking again.
    pub(super) dry_until: Timestamp,
    /// What requests waiting for this bucket's next lease need (unit·ms): one lease covers
    /// them all instead of each taking its own in turn.
    pub(super) waiting: i64,
    /// Spent in the current second and the one before: the demand a lease is sized by.
    pub(super) demand: (Timestamp, i64, i64),
    pub(super) last_used: Timestamp,
    /// A lease ahead of need is on its way (`lease_ahead`): no second one is started.
    pub(super) leasing_ahead: bool,
}

impl Local {
    pub(super) fn new(shape: Bucket, now: Timestamp) -> Self {
        Self {
            shape,
            allowance: 0,
            seen: None,
            dry_until: 0,
            waiting: 0,
            demand: (now / 1000, 0, 0),
            last_used: now,
            leasing_ahead: false,
        }
    }

    /// What is left of the slice is under half its recent demand, the shared bucket is not
    /// known dry and no lease is under way: time to lease ahead of need, so that under steady
    /// demand no request waits for the database. Marks the lease as started when it answers.
    pub(super) fn claim_lease_ahead(&mut self, now: Timestamp) -> bool {
        let low = self.recent_demand(now) / 2;
        if self.leasing_ahead
            || self.waiting > 0
            || self.dry_until > now
            || low <= 0
            || self.allowance >= low
        {
            return false;
        }
        self.leasing_ahead = true;
        true
    }

    pub(super) fn spend(&mut self, cost: i64, now: Timestamp) {
        self.allowance = self.allowance.saturating_sub(cost);
        self.last_used = now;
        let second = now / 1000;
        let (at, this, _) = self.demand;
        self.demand = match second - at {
            0 => (at, this.saturating_add(cost), self.demand.2),
            1 => (second, cost, this),
            _ => (second, cost, 0),
        };
    }

    pub(super) fn recent_demand(&self, now: Timestamp) -> i64 {
        let (at, this, prev) = self.demand;
        match now / 1000 - at {
            0 => this.saturating_add(prev),
            1 => this,
            _ => 0,
        }
    }

    /// What is left of the bucket for everyone, as far as this process can tell: the shared
    /// level refilled to now plus this process's unspent slice.
    pub(super) fn remaining(&self, now: Timestamp) -> BucketState {
        let shared = self
            .seen
            .map(|s| self.shape.refilled(s, now))
            .unwrap_or_else(|| self.shape.full(now));
        BucketState {
            level: shared
                .level
                .saturating_add(self.allowance)
                .min(self.shape.capacity()),
            at: now,
        }
    }

    pub(super) fn gauge(&self, now: Timestamp) -> Gauge {
        let r = self.remaining(now);
        Gauge {
            limit: self.shape.limit,
            remaining: self.shape.units(r),
            reset_ms: self.shape.ms_until_full(r),
        }
    }
}

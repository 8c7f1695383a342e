//! Leasing slices of a shared bucket: the only place the rate limiter touches the database.
//!
//! The bucket's state lives in `rate_buckets` (a missing row is a full bucket). A process takes
//! a slice by compare-and-swap — refill to now, take, write back if nobody wrote meanwhile — and
//! spends it from memory; an idle process gives what it did not spend back the same way. Every
//! unit any process admits was taken from the one shared bucket, so all processes together admit
//! what a single bucket would (docs/decisions/0014-rate-limit-leases.md).

use tollgate_domain::limits::{Bucket, BucketState};
use tollgate_domain::Timestamp;
use tollgate_store::{Conflict, Store, StoreError, StoredBucket};

/// Compare-and-swap attempts before giving up for this time (only under heavy contention
/// from many processes; the caller refuses briefly rather than wait).
const ATTEMPTS: usize = 16;

/// What a lease attempt got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leased {
    /// `amount` (unit·ms) now belongs to this process; the shared bucket is left at `after`.
    Granted { amount: i64, after: BucketState },
    /// The shared bucket does not hold what is needed; it is at `state`.
    Dry { state: BucketState },
}

fn state_of(shape: &Bucket, stored: Option<&StoredBucket>, now: Timestamp) -> BucketState {
    match stored {
        Some(s) => BucketState {
            level: s.level,
            at: s.updated_at,
        },
        None => shape.full(now),
    }
}

/// Takes between `need` and `want` (unit·ms) from the shared bucket `key`, or nothing when it
/// holds less than `need`.
pub async fn take(
    store: &Store,
    key: &str,
    shape: &Bucket,
    need: i64,
    want: i64,
    now: Timestamp,
) -> Result<Leased, StoreError> {
    let mut last = shape.full(now);
    for _ in 0..ATTEMPTS {
        let stored = store.rate_bucket(key).await?;
        let state = shape.refilled(state_of(shape, stored.as_ref(), now), now);
        last = state;
        if state.level < need {
            return Ok(Leased::Dry { state });
        }
        let amount = want.max(need).min(state.level);
        let after = BucketState {
            level: state.level - amount,
            at: state.at,
        };
        if store
            .swap_rate_bucket(key, stored.as_ref(), after.level, after.at)
            .await?
        {
            return Ok(Leased::Granted { amount, after });
        }
    }
    tracing::warn!(
        bucket = key,
        "rate bucket too contended to lease from; refusing for now"
    );
    Ok(Leased::Dry { state: last })
}

/// Gives `amount` (unit·ms) back to the shared bucket — unspent units, or, when negative, a
/// correction owed (a request that used more than estimated). Returns the bucket's state.
pub async fn give_back(
    store: &Store,
    key: &str,
    shape: &Bucket,
    amount: i64,
    now: Timestamp,
) -> Result<BucketState, StoreError> {
    for _ in 0..ATTEMPTS {
        let stored = store.rate_bucket(key).await?;
        let after = shape.give_back(state_of(shape, stored.as_ref(), now), amount, now);
        if store
            .swap_rate_bucket(key, stored.as_ref(), after.level, after.at)
            .await?
        {
            return Ok(after);
        }
    }
    Err(Conflict::RateBucket.into())
}

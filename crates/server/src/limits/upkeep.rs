//! Upkeep of the slices: idle ones go back to the shared buckets, long-idle buckets are
//! forgotten, everything goes back at shutdown; and the shared level as the Limits page shows it.

use std::sync::{Arc, PoisonError};

use tollgate_domain::limits::{Bucket, BucketState, Dimension};
use tollgate_store::StoreError;

use super::slice::Local;
use super::{bucket_key, lease, Limiter, Scope, FORGET_MS, IDLE_RETURN_MS, MAINTAIN_EVERY};
use crate::app::App;

impl Limiter {
    /// Gives idle slices back to the shared buckets and forgets long-idle buckets. Run every
    /// `MAINTAIN_EVERY` by `run`; tests call it with a moved clock.
    pub async fn maintain(&self) {
        let now = self.inner.clock.now_ms();
        self.give_back_where(|l| now.saturating_sub(l.last_used) >= IDLE_RETURN_MS)
            .await;
        let mut buckets = self.inner.buckets();
        let mut gates = self
            .inner
            .gates
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        buckets.retain(|key, l| {
            let keep = l.allowance != 0 || now.saturating_sub(l.last_used) < FORGET_MS;
            if !keep {
                gates.remove(key);
            }
            keep
        });
    }

    /// Gives every slice back (shutdown), once the leases ahead of need already started have
    /// finished — one still running would otherwise take a slice after the last went back.
    pub async fn give_back_all(&self) {
        self.ahead.idle().await;
        self.give_back_where(|_| true).await;
    }

    async fn give_back_where(&self, pick: impl Fn(&Local) -> bool) {
        let now = self.inner.clock.now_ms();
        let returns: Vec<(String, Bucket, i64)> = {
            let mut buckets = self.inner.buckets();
            buckets
                .iter_mut()
                .filter(|(_, l)| l.allowance != 0 && pick(l))
                .map(|(k, l)| (k.clone(), l.shape, std::mem::take(&mut l.allowance)))
                .collect()
        };
        for (key, shape, amount) in returns {
            match lease::give_back(&self.inner.store, &key, &shape, amount, now).await {
                Ok(after) => {
                    if let Some(l) = self.inner.buckets().get_mut(&key) {
                        l.seen = Some(after);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, bucket = key, "could not give a rate-limit slice back; keeping it");
                    if let Some(l) = self.inner.buckets().get_mut(&key) {
                        l.allowance = l.allowance.saturating_add(amount);
                    }
                }
            }
        }
    }

    /// What is left of an organization's or project's bucket now (the Limits page): the shared
    /// level plus the unspent slice this process holds (exact on one process; other processes'
    /// unspent slices count as in use until they go back, within a second idle).
    pub async fn shared_remaining(
        &self,
        scope: Scope,
        id: &str,
        model: &str,
        dimension: Dimension,
        limit: u64,
    ) -> Result<u64, StoreError> {
        let shape = Bucket::new(limit, dimension.window);
        let now = self.inner.clock.now_ms();
        let key = bucket_key(scope, id, model, dimension);
        let state = match self.inner.store.rate_bucket(&key).await? {
            Some(s) => shape.refilled(
                BucketState {
                    level: s.level,
                    at: s.updated_at,
                },
                now,
            ),
            None => shape.full(now),
        };
        let unspent = self
            .inner
            .buckets()
            .get(&key)
            .filter(|l| l.shape == shape)
            .map_or(0, |l| l.allowance.max(0));
        let level = state.level.saturating_add(unspent).min(shape.capacity());
        Ok(shape.units(BucketState { level, at: now }))
    }
}

/// Returns idle rate-limit slices to the shared buckets every `MAINTAIN_EVERY`.
pub fn spawn(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    crate::jobs::spawn_periodic("rate-limit slices", MAINTAIN_EVERY, move || {
        let app = app.clone();
        async move {
            app.limits.maintain().await;
            Ok(None)
        }
    })
}

//! Rate limits on the gateway (DESIGN §2 "Usage and rate limits", docs/limits.md).
//!
//! `Limiter::admit` is asked once per request, after the plan is known and before forwarding.
//! It answers from memory: each process holds slices it leased from the shared buckets
//! (`lease`), sized by its recent demand, and goes to the database only to lease another slice
//! — not once per request — or to give back what it did not spend. Limits resolve from the
//! tier or the catalog, the operator's override and the project's own (`settings`).

pub mod headers;
mod lease;
pub mod settings;
mod slice;
mod upkeep;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tollgate_domain::limits::{Bucket, Dimension, RateLimits, ResolvedLimits, Unit};
use tollgate_domain::{Clock, OrgId, ProjectId, Timestamp};
use tollgate_store::{Store, StoreError};

use crate::service::entitlement::Entitlement;
use headers::headers_of;
pub use headers::{Gauge, RateHeaders, RateLimited, Scope};
use lease::Leased;
use settings::{resolve_with, SettingsCache};
use slice::Local;
pub use upkeep::spawn;

/// A slice unspent for this long goes back to the shared bucket, so that an idle process does
/// not keep what a busy one could use.
pub const IDLE_RETURN_MS: i64 = 1_000;
/// Buckets untouched for this long are forgotten (after their slice went back).
const FORGET_MS: i64 = 600_000;
/// How often idle slices are returned.
pub const MAINTAIN_EVERY: Duration = Duration::from_millis(250);
/// Rounds of "spend from the slice, else lease" a request gets before a bucket that is not dry
/// refuses it: concurrent requests may spend a fresh slice before the one that leased it.
const LEASE_ROUNDS: usize = 4;

/// One request to admit.
#[derive(Debug, Clone, Copy)]
pub struct RateRequest<'a> {
    pub org_id: &'a OrgId,
    pub project_id: &'a ProjectId,
    pub model: &'a str,
    /// The plan the request is under: it decides the base limits (tier or pay-as-you-go).
    pub entitlement: &'a Entitlement,
    /// Input tokens plus `max_tokens` (or the context length minus the input).
    pub estimated_tokens: u64,
}

/// Why a request was not admitted.
#[derive(Debug, thiserror::Error)]
pub enum RateRefusal {
    #[error("rate limit reached")]
    Limited(Box<RateLimited>),
    /// The shared buckets cannot be reached: the gateway answers 503.
    #[error("rate limits cannot be checked right now")]
    Unavailable(#[from] StoreError),
}

/// A request admitted: its tokens are corrected when the real usage is known (`settle`).
/// Dropped unsettled, the estimate stands.
#[derive(Debug)]
pub struct RateAdmission {
    limiter: Option<Arc<Inner>>,
    /// Token buckets the estimate was taken from: key and unit scale.
    token_buckets: Vec<(String, i64)>,
    estimated: u64,
    pub headers: RateHeaders,
}

impl RateAdmission {
    /// Corrects the token buckets by the real usage: unused estimated tokens go back; tokens
    /// used beyond the estimate are charged.
    pub fn settle(mut self, actual_tokens: u64) {
        let Some(inner) = self.limiter.take() else {
            return;
        };
        let est = i64::try_from(self.estimated).unwrap_or(i64::MAX);
        let actual = i64::try_from(actual_tokens).unwrap_or(i64::MAX);
        let unused = est.saturating_sub(actual);
        if unused == 0 {
            return;
        }
        let mut buckets = inner.buckets();
        for (key, scale) in &self.token_buckets {
            if let Some(local) = buckets.get_mut(key) {
                local.allowance = local
                    .allowance
                    .saturating_add(unused.saturating_mul(*scale));
                // What came back may be enough: let the next request look again.
                local.dry_until = 0;
            }
        }
    }
}

/// One bucket a request must fit in.
#[derive(Debug, Clone)]
struct Need {
    key: String,
    shape: Bucket,
    dimension: Dimension,
    scope: Scope,
    units: u64,
    cost: i64,
}

struct Inner {
    store: Store,
    clock: Arc<dyn Clock>,
    buckets: Mutex<HashMap<String, Local>>,
    /// One lease at a time per bucket: concurrent requests wait for it instead of each asking.
    gates: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limiter").finish_non_exhaustive()
    }
}

impl Inner {
    fn buckets(&self) -> MutexGuard<'_, HashMap<String, Local>> {
        self.buckets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn gate(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.gates
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(key.to_owned())
            .or_default()
            .clone()
    }

    /// Leases a slice of `need`'s bucket (the caller holds its gate): sized by what waits for
    /// it and recent demand, and only if still lacking — `ahead`, lacking means under `low`
    /// rather than under one request's cost.
    async fn lease(
        &self,
        need: &Need,
        now: Timestamp,
        ahead: Option<i64>,
    ) -> Result<(), StoreError> {
        let (deficit, want) = {
            let buckets = self.buckets();
            let Some(local) = buckets.get(&need.key) else {
                return Ok(());
            };
            let enough = ahead.unwrap_or(need.cost);
            if local.allowance >= enough || local.dry_until > now {
                // Another request leased (or found the bucket dry) while this one waited.
                return Ok(());
            }
            let others = local.waiting.saturating_sub(need.cost).max(0);
            let demand = local.recent_demand(now).saturating_add(others);
            if ahead.is_some() {
                // Ahead of need, the slice held stays within the eighth of the bucket a slice
                // may be (decision 0014), as when leased for a request that lacks it.
                let eighth = need.shape.lease_want(0, i64::MAX);
                let room = eighth.saturating_sub(local.allowance.max(0));
                let deficit = need.cost.max(1);
                if room < deficit {
                    return Ok(());
                }
                (deficit, need.shape.lease_want(deficit, demand).min(room))
            } else {
                let deficit = need.cost.saturating_sub(local.allowance);
                // Within the eighth of the bucket a slice may be (decision 0014).
                (deficit, need.shape.lease_want(deficit, demand))
            }
        };
        let leased = lease::take(&self.store, &need.key, &need.shape, deficit, want, now).await?;
        let mut buckets = self.buckets();
        let local = buckets
            .entry(need.key.clone())
            .or_insert_with(|| Local::new(need.shape, now));
        match leased {
            Leased::Granted { amount, after } => {
                local.allowance = local.allowance.saturating_add(amount);
                local.seen = Some(after);
                local.dry_until = 0;
            }
            Leased::Dry { state } => {
                local.seen = Some(state);
                let wait = need.shape.wait_ms(state, deficit).unwrap_or(i64::MAX / 4);
                local.dry_until = now.saturating_add(wait.max(1));
            }
        }
        Ok(())
    }
}

/// Leases a slice of `need`'s bucket ahead of need (see `Local::claim_lease_ahead`). Nothing
/// waits on it: on an error the bucket stays as it was and the next request short of it
/// leases (or answers 503) as usual.
async fn lease_ahead(inner: Arc<Inner>, need: Need) {
    let gate = inner.gate(&need.key);
    let one_at_a_time = gate.lock().await;
    let now = inner.clock.now_ms();
    let low = inner
        .buckets()
        .get(&need.key)
        .map_or(0, |l| l.recent_demand(now) / 2);
    if let Err(e) = inner.lease(&need, now, Some(low)).await {
        tracing::warn!(error = %e, bucket = need.key, "could not lease a rate-limit slice ahead of need");
    }
    if let Some(local) = inner.buckets().get_mut(&need.key) {
        local.leasing_ahead = false;
    }
    drop(one_at_a_time);
}

/// The rate limiter of one process (`app.limits`).
pub struct Limiter {
    inner: Arc<Inner>,
    pub settings: SettingsCache,
    /// Leases ahead of need still running: giving every slice back waits for them first, so
    /// that none takes a slice after the last one went back.
    ahead: crate::jobs::Background,
}

impl Limiter {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Self {
        let settings = SettingsCache::new(clock.clone());
        Self {
            inner: Arc::new(Inner {
                store,
                clock,
                buckets: Mutex::default(),
                gates: Mutex::default(),
            }),
            settings,
            ahead: crate::jobs::Background::default(),
        }
    }

    /// The organization's limits for a model under `entitlement`, and where each comes from.
    pub async fn resolve(
        &self,
        org_id: &OrgId,
        model: &str,
        entitlement: &Entitlement,
    ) -> Result<ResolvedLimits, StoreError> {
        let settings = self.settings.get(&self.inner.store, org_id).await?;
        Ok(resolve_with(entitlement, settings.overrides.get(model)))
    }

    /// A project's own limits for a model as enforced (never above the organization's).
    pub async fn project_limits(
        &self,
        org: &ResolvedLimits,
        org_id: &OrgId,
        project_id: &ProjectId,
        model: &str,
    ) -> Result<RateLimits, StoreError> {
        let settings = self.settings.get(&self.inner.store, org_id).await?;
        Ok(settings
            .projects
            .get(&(project_id.clone(), model.to_owned()))
            .map(|p| org.for_project(p))
            .unwrap_or_default())
    }

    async fn needs(&self, r: &RateRequest<'_>) -> Result<Vec<Need>, StoreError> {
        let org = self.resolve(r.org_id, r.model, r.entitlement).await?;
        let project = self
            .project_limits(&org, r.org_id, r.project_id, r.model)
            .await?;
        let mut needs = Vec::new();
        for (scope, id, limits) in [
            (Scope::Organization, r.org_id.as_str(), &org.limits),
            (Scope::Project, r.project_id.as_str(), &project),
        ] {
            for (dimension, limit) in limits.iter() {
                let shape = Bucket::new(limit, dimension.window);
                let units = match dimension.unit {
                    Unit::Requests => 1,
                    Unit::Tokens => r.estimated_tokens,
                };
                needs.push(Need {
                    key: bucket_key(scope, id, r.model, dimension),
                    shape,
                    dimension,
                    scope,
                    units,
                    cost: shape.cost(units),
                });
            }
        }
        Ok(needs)
    }

    /// Admits one request against every bucket that applies, from memory unless a slice runs
    /// out; refuses with the first limit it does not fit.
    pub async fn admit(&self, r: RateRequest<'_>) -> Result<RateAdmission, RateRefusal> {
        let needs = self.needs(&r).await?;
        // What this request already took from its slices, kept while it waits for the rest.
        let mut claimed = vec![false; needs.len()];
        for round in 0..LEASE_ROUNDS {
            let now = self.inner.clock.now_ms();
            let lacking = match self.claim(&needs, &mut claimed, now) {
                Ok(headers) => {
                    self.lease_ahead_where_low(&needs, now);
                    let token_buckets = needs
                        .iter()
                        .filter(|n| n.dimension.unit == Unit::Tokens)
                        .map(|n| (n.key.clone(), n.shape.scale()))
                        .collect();
                    return Ok(RateAdmission {
                        limiter: Some(self.inner.clone()),
                        token_buckets,
                        estimated: r.estimated_tokens,
                        headers,
                    });
                }
                Err(lacking) => lacking,
            };
            for &i in &lacking {
                let need = &needs[i];
                let dry = self
                    .inner
                    .buckets()
                    .get(&need.key)
                    .is_some_and(|l| l.dry_until > now);
                if round + 1 == LEASE_ROUNDS || dry || need.cost > need.shape.capacity() {
                    self.unclaim(&needs, &claimed);
                    return Err(RateRefusal::Limited(Box::new(
                        self.refusal(&needs, need, r.model, now),
                    )));
                }
            }
            // Counted as waiting in every bucket it lacks before any is leased, so that each
            // lease covers every request queued behind it.
            for &i in &lacking {
                self.wait_for_lease(&needs[i].key, needs[i].cost);
            }
            let mut leased = Ok(());
            for &i in &lacking {
                if leased.is_ok() {
                    leased = self.lease(&needs[i], now).await;
                }
            }
            for &i in &lacking {
                self.wait_for_lease(&needs[i].key, -needs[i].cost);
            }
            if let Err(e) = leased {
                self.unclaim(&needs, &claimed);
                return Err(e.into());
            }
        }
        self.unclaim(&needs, &claimed);
        let now = self.inner.clock.now_ms();
        Err(RateRefusal::Limited(Box::new(
            self.refusal(&needs, &needs[0], r.model, now),
        )))
    }

    /// Takes the request's cost from each slice that covers it and is not yet `claimed`; once
    /// every bucket is claimed the request is admitted, otherwise names the buckets still
    /// lacking. A claim is kept across rounds, so that requests arriving meanwhile cannot spend
    /// what this one was waiting for.
    fn claim(
        &self,
        needs: &[Need],
        claimed: &mut [bool],
        now: Timestamp,
    ) -> Result<RateHeaders, Vec<usize>> {
        let mut buckets = self.inner.buckets();
        let mut lacking = Vec::new();
        for (i, n) in needs.iter().enumerate() {
            let local = buckets
                .entry(n.key.clone())
                .or_insert_with(|| Local::new(n.shape, now));
            if local.shape != n.shape {
                // The limit changed (an override, a subscription): a slice leased under the old
                // shape could admit far past the new limit. Forget it — the shared bucket only
                // loses what it already lent, so this can refuse early, never admit too much.
                local.shape = n.shape;
                local.allowance = local.allowance.min(0);
                local.seen = None;
                local.dry_until = 0;
                claimed[i] = false;
            }
            if claimed[i] {
                continue;
            }
            if local.allowance < n.cost {
                lacking.push(i);
            } else {
                local.spend(n.cost, now);
                claimed[i] = true;
            }
        }
        if !lacking.is_empty() {
            return Err(lacking);
        }
        Ok(headers_of(&buckets, needs, now))
    }

    /// A refused request gives back what it claimed.
    fn unclaim(&self, needs: &[Need], claimed: &[bool]) {
        let mut buckets = self.inner.buckets();
        for (n, _) in needs.iter().zip(claimed).filter(|(_, c)| **c) {
            if let Some(local) = buckets.get_mut(&n.key) {
                if local.shape == n.shape {
                    local.allowance = local.allowance.saturating_add(n.cost);
                }
            }
        }
    }

    /// Counts `cost` (negative: no longer) as waiting for `key`'s next lease.
    fn wait_for_lease(&self, key: &str, cost: i64) {
        if let Some(local) = self.inner.buckets().get_mut(key) {
            local.waiting = local.waiting.saturating_add(cost);
        }
    }

    /// Leases a slice of `need`'s bucket sized by what waits for it and recent demand (one lease
    /// at a time per bucket).
    async fn lease(&self, need: &Need, now: Timestamp) -> Result<(), StoreError> {
        let gate = self.inner.gate(&need.key);
        let _one_at_a_time = gate.lock().await;
        self.inner.lease(need, now, None).await
    }

    /// Starts a lease ahead of need for each bucket of an admitted request running low.
    fn lease_ahead_where_low(&self, needs: &[Need], now: Timestamp) {
        let low: Vec<&Need> = {
            let mut buckets = self.inner.buckets();
            needs
                .iter()
                .filter(|n| {
                    buckets
                        .get_mut(&n.key)
                        .is_some_and(|l| l.shape == n.shape && l.claim_lease_ahead(now))
                })
                .collect()
        };
        for need in low {
            let (inner, need) = (self.inner.clone(), need.clone());
            self.ahead.spawn("rate-limit lease ahead", async move {
                lease_ahead(inner, need).await;
                Ok(())
            });
        }
    }

    fn refusal(&self, needs: &[Need], need: &Need, model: &str, now: Timestamp) -> RateLimited {
        let buckets = self.inner.buckets();
        let retry_after_ms = if need.cost > need.shape.capacity() {
            None
        } else {
            let wait = buckets.get(&need.key).map_or(1_000, |l| {
                if l.dry_until > now {
                    l.dry_until - now
                } else {
                    let deficit = need.cost.saturating_sub(l.allowance);
                    let shared = l
                        .seen
                        .map_or_else(|| need.shape.full(now), |s| need.shape.refilled(s, now));
                    need.shape.wait_ms(shared, deficit).unwrap_or(1_000)
                }
            });
            Some(wait.max(1))
        };
        RateLimited {
            scope: need.scope,
            dimension: need.dimension,
            limit: need.shape.limit,
            model: model.to_owned(),
            requested: need.units,
            retry_after_ms,
            headers: headers_of(&buckets, needs, now),
        }
    }
}

fn bucket_key(scope: Scope, id: &str, model: &str, d: Dimension) -> String {
    let scope = match scope {
        Scope::Organization => "org",
        Scope::Project => "prj",
    };
    format!("{scope}:{id}:{model}:{}", d.abbreviation())
}

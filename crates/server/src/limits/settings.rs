//! The limits an organization's operator and admins set (overrides per model, project limits,
//! monthly spend limits),
//! read from the database once and kept in memory. A change made here is forgotten at once; one
//! made by another process arrives through the change log (`ChangeKind::Limits`) within a
//! second. Entries also expire after `TTL`, should the log ever be out of reach.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tollgate_domain::limits::spend::SpendScope;
use tollgate_domain::limits::{resolve, LimitSource, RateLimits, ResolvedLimits};
use tollgate_domain::{Clock, OrgId, ProjectId, Timestamp};
use tollgate_store::{SpendLimit, Store, StoreError};

use crate::service::entitlement::Entitlement;

/// How long an entry is kept, in milliseconds of the injected clock.
const TTL_MS: i64 = 60_000;
/// Organizations kept at most; the map is emptied when it grows past this.
const MAX_ORGS: usize = 100_000;

/// What is set for one organization.
#[derive(Debug, Default)]
pub struct OrgSettings {
    /// The operator's override, by model.
    pub overrides: HashMap<String, RateLimits>,
    /// Project limits, by (project, model).
    pub projects: HashMap<(ProjectId, String), RateLimits>,
    /// Monthly spend limits, by scope and target (the organization, a project, a key).
    pub spend: HashMap<(SpendScope, String), SpendLimit>,
}

pub struct SettingsCache {
    clock: Arc<dyn Clock>,
    /// By organization: when it was read, and what.
    orgs: Mutex<HashMap<String, (Timestamp, Arc<OrgSettings>)>>,
    /// Bumped by every invalidation: a read that started before one is not cached after it.
    generation: AtomicU64,
}

impl SettingsCache {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            orgs: Mutex::default(),
            generation: AtomicU64::default(),
        }
    }

    pub async fn get(&self, store: &Store, org_id: &OrgId) -> Result<Arc<OrgSettings>, StoreError> {
        let now = self.clock.now_ms();
        if let Some((at, s)) = self.lock().get(org_id.as_str()) {
            if now.saturating_sub(*at) < TTL_MS {
                return Ok(s.clone());
            }
        }
        let generation = self.generation.load(Ordering::Acquire);
        let overrides = store.org_model_limits(org_id).await?.into_iter().collect();
        let projects = store
            .project_model_limits(org_id)
            .await?
            .into_iter()
            .map(|p| ((p.project_id, p.model), p.limits))
            .collect();
        let spend = store
            .spend_limits(org_id)
            .await?
            .into_iter()
            .map(|l| ((l.scope, l.target_id.clone()), l))
            .collect();
        let settings = Arc::new(OrgSettings {
            overrides,
            projects,
            spend,
        });
        let mut orgs = self.lock();
        if self.generation.load(Ordering::Acquire) == generation {
            if orgs.len() >= MAX_ORGS {
                orgs.clear();
            }
            orgs.insert(org_id.to_string(), (now, settings.clone()));
        }
        Ok(settings)
    }

    pub fn forget_org(&self, org_id: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.lock().remove(org_id);
    }

    pub fn forget_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Timestamp, Arc<OrgSettings>)>> {
        self.orgs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The limits of a request's plan, with the operator's override for its model if any.
pub(super) fn resolve_with(
    entitlement: &Entitlement,
    custom: Option<&RateLimits>,
) -> ResolvedLimits {
    match entitlement {
        Entitlement::Subscription { tier, limits } => resolve(
            LimitSource::Tier(tier.clone()),
            RateLimits::from(*limits),
            custom,
        ),
        Entitlement::PayAsYouGo { limits } => {
            resolve(LimitSource::PayAsYouGo, RateLimits::from(*limits), custom)
        }
    }
}

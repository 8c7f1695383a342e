//! Entitlement: for an organization and a model, whether a subscription covers the requests and
//! with which limits. The gateway and usage ingestion ask on every request, so answers are kept
//! in memory for at most `TTL_MS`: a change made by another process is seen within it, one made by
//! this process at once (`forget`).

use std::collections::HashMap;
use std::sync::Mutex;

use tollgate_domain::catalog::Limits;
use tollgate_domain::{OrgId, Timestamp};

use crate::app::App;
use crate::service::{ServiceError, ServiceResult};

/// In milliseconds of the app's clock, so that tests move past it instead of sleeping.
const TTL_MS: i64 = 1_000;
/// Entries kept at most; the map is emptied when it grows past this.
const MAX_ENTRIES: usize = 100_000;

/// How requests of an organization for a model are billed and limited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entitlement {
    /// Covered by a subscription: the tier's limits, no credits consumed.
    Subscription { tier: String, limits: Limits },
    /// Pay-as-you-go: the model's limits, credits consumed at its prices.
    PayAsYouGo { limits: Limits },
}

impl Entitlement {
    /// The plan a usage record names: `subscription` or `payg`.
    pub fn plan(&self) -> &'static str {
        match self {
            Self::Subscription { .. } => "subscription",
            Self::PayAsYouGo { .. } => "payg",
        }
    }

    pub fn limits(&self) -> &Limits {
        match self {
            Self::Subscription { limits, .. } | Self::PayAsYouGo { limits } => limits,
        }
    }
}

/// (org, model).
type Key = (String, String);
/// When it was read, the entitled tier (`None`: pay-as-you-go), and whether a request is
/// already reading it again ahead of its expiry.
type Entry = (Timestamp, Option<String>, bool);

/// What the cache knows of (org, model) now.
enum Cached {
    /// Fresh: use it.
    Fresh(Option<String>),
    /// Past half its life: use it, and this caller (alone) reads it again, so that under
    /// steady traffic the entry never expires and requests do not all wait for the database
    /// at once when it would have.
    Renew(Option<String>),
    Missing,
}

#[derive(Default)]
pub struct EntitlementCache {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl EntitlementCache {
    fn get(&self, org_id: &str, model: &str, now: Timestamp) -> Cached {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match entries.get_mut(&(org_id.to_owned(), model.to_owned())) {
            Some((at, tier, renewing)) if (*at..at.saturating_add(TTL_MS)).contains(&now) => {
                if !*renewing && now >= at.saturating_add(TTL_MS / 2) {
                    *renewing = true;
                    Cached::Renew(tier.clone())
                } else {
                    Cached::Fresh(tier.clone())
                }
            }
            _ => Cached::Missing,
        }
    }

    fn put(&self, org_id: &str, model: &str, tier: Option<String>, now: Timestamp) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert((org_id.to_owned(), model.to_owned()), (now, tier, false));
    }

    /// Drops what is known of (org, model): called by this process after it changed a
    /// subscription.
    pub fn forget(&self, org_id: &str, model: &str) {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&(org_id.to_owned(), model.to_owned()));
    }
}

impl App {
    /// Reads (org, model)'s entitled tier and keeps it, as of `read` (when the read began).
    async fn read_entitlement(
        &self,
        org_id: &OrgId,
        model: &str,
        read: Timestamp,
    ) -> ServiceResult<Option<String>> {
        let tier = self
            .store
            .live_subscription(org_id, model)
            .await?
            .filter(|s| s.status.entitles())
            .map(|s| s.tier);
        self.entitlements.put(org_id, model, tier.clone(), read);
        Ok(tier)
    }

    /// Whether a subscription of `org_id` covers `model`, and the limits that apply. Unknown
    /// models answer `NotFound`. Past-due subscriptions still cover (their renewal is being
    /// retried); a tier that left the catalog falls back to pay-as-you-go.
    pub async fn entitlement(&self, org_id: &OrgId, model: &str) -> ServiceResult<Entitlement> {
        let catalog = self.catalog.current();
        let m = catalog
            .model(model)
            .ok_or(ServiceError::NotFound("model"))?;
        let read = self.now();
        let tier = match self.entitlements.get(org_id, model, read) {
            Cached::Fresh(tier) => tier,
            Cached::Renew(cached) => match self.read_entitlement(org_id, model, read).await {
                Ok(tier) => tier,
                Err(e) => {
                    // The entry stays, to be read again by the next request once it expires.
                    tracing::warn!(error = %e, "could not renew an entitlement ahead of its expiry");
                    cached
                }
            },
            Cached::Missing => self.read_entitlement(org_id, model, read).await?,
        };
        Ok(
            match tier.and_then(|id| m.tiers.iter().find(|t| t.id == id)) {
                Some(t) => Entitlement::Subscription {
                    tier: t.id.clone(),
                    limits: t.limits,
                },
                None => Entitlement::PayAsYouGo { limits: m.limits },
            },
        )
    }
}

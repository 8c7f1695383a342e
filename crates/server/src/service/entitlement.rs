//! Entitlement: for an organization and a model, whether a subscription covers the requests and
//! with which limits. The gateway and usage ingestion ask on every request, so answers are kept
//! in memory for at most `TTL_MS`: a change made by another process is seen within it, one made by
//! this process at once (`forget`).

use std::collections::HashMap;
use std::sync::Mutex;

use tollgate_domain::catalog::Limits;
use tollgate_domain::Timestamp;

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
/// When it was read, and the entitled tier (`None`: pay-as-you-go).
type Entry = (Timestamp, Option<String>);

#[derive(Default)]
pub struct EntitlementCache {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl EntitlementCache {
    fn get(&self, org_id: &str, model: &str, now: Timestamp) -> Option<Option<String>> {
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        entries
            .get(&(org_id.to_owned(), model.to_owned()))
            .filter(|(at, _)| (*at..at.saturating_add(TTL_MS)).contains(&now))
            .map(|(_, tier)| tier.clone())
    }

    fn put(&self, org_id: &str, model: &str, tier: Option<String>, now: Timestamp) {
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert((org_id.to_owned(), model.to_owned()), (now, tier));
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
    /// Whether a subscription of `org_id` covers `model`, and the limits that apply. Unknown
    /// models answer `NotFound`. Past-due subscriptions still cover (their renewal is being
    /// retried); a tier that left the catalog falls back to pay-as-you-go.
    pub async fn entitlement(&self, org_id: &str, model: &str) -> ServiceResult<Entitlement> {
        let catalog = self.catalog.current();
        let m = catalog
            .model(model)
            .ok_or(ServiceError::NotFound("model"))?;
        let tier = match self.entitlements.get(org_id, model, self.now()) {
            Some(tier) => tier,
            None => {
                let tier = self
                    .store
                    .live_subscription(org_id, model)
                    .await?
                    .filter(|s| s.status.entitles())
                    .map(|s| s.tier);
                self.entitlements
                    .put(org_id, model, tier.clone(), self.now());
                tier
            }
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

use std::sync::Arc;

use tollgate_domain::{Clock, SystemClock};
use tollgate_store::Store;

use crate::auth::password::Passwords;
use crate::catalog::CatalogHandle;
use crate::console::templates::Templates;
use crate::email::Mailer;
use crate::gateway::upstream::Upstreams;
use crate::keys::KeyAuthenticator;
use crate::limits::Limiter;
use crate::metering::Metering;
use crate::metrics::Metrics;
use crate::payments::Payments;
use crate::service::entitlement::EntitlementCache;
use crate::ServerConfig;

/// Everything a request handler needs, shared behind one `Arc`.
pub struct App {
    pub store: Store,
    pub config: ServerConfig,
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
    pub templates: Templates,
    pub mailer: Mailer,
    /// The payment provider chosen by `config.payments` (sandbox by default).
    pub payments: Payments,
    /// API key authentication, answered from memory after the first look-up.
    pub keys: KeyAuthenticator,
    /// The model catalog in force.
    pub catalog: CatalogHandle,
    /// Which subscriptions cover which models, remembered for a second.
    pub entitlements: EntitlementCache,
    /// Turns at password hashing (a few at once, 19 MiB each).
    pub passwords: Passwords,
    /// Credit admission and usage metering of the gateway.
    pub metering: Metering,
    /// Work started by requests and not waited for.
    pub background: crate::jobs::Background,
    /// The models' upstreams and their connection pools.
    pub upstreams: Upstreams,
    /// Rate limits of the gateway, admitted from memory against leased slices.
    pub limits: Limiter,
    /// The console Playground's passes (`service/playground.rs`).
    pub playground: crate::service::playground::PlaygroundPasses,
    /// Faults tests inject into the charge flow.
    #[cfg(feature = "testing")]
    pub charge_faults: crate::service::charges::ChargeFaults,
}

pub type AppState = Arc<App>;

impl App {
    pub fn new(store: Store, config: ServerConfig) -> anyhow::Result<Self> {
        Self::with_clock(store, config, Arc::new(SystemClock))
    }

    pub fn with_clock(
        store: Store,
        config: ServerConfig,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let catalog = CatalogHandle::load(config.catalog_path.as_deref())?;
        Ok(Self {
            mailer: Mailer::new(&config.email)?,
            payments: Payments::from_config(&config.payments)?,
            keys: KeyAuthenticator::new(store.clone(), clock.clone()),
            catalog,
            entitlements: EntitlementCache::default(),
            passwords: Passwords::new(config.password_hash_concurrency, config.password_hash_wait),
            metering: Metering::new(store.clone(), clock.clone(), config.metering.clone()),
            background: Default::default(),
            upstreams: Upstreams::default(),
            limits: Limiter::new(store.clone(), clock.clone()),
            playground: Default::default(),
            #[cfg(feature = "testing")]
            charge_faults: Default::default(),
            store,
            config,
            clock,
            metrics: Metrics::new(),
            templates: Templates::load()?,
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
}

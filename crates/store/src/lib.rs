//! Tollgate's storage: one `Store` API over SQLite and PostgreSQL.
//!
//! Every query is written once, in SQL that both engines accept, and run through sqlx's `Any`
//! driver; each engine has its own migrations. Why this shape and its rules (BIGINT times,
//! no BOOLEAN columns, `BEGIN IMMEDIATE` on SQLite) are in docs/decisions/0001-storage.md.

mod api_keys;
mod audit;
#[cfg(feature = "testing")]
mod bench_support;
mod billing;
mod changes;
mod cursor;
mod db;
mod email_verifications;
mod error;
mod getting_started;
mod invitations;
mod leases;
mod ledger;
mod limits;
mod members;
mod operator_tokens;
mod orgs;
mod outbox;
mod password_resets;
mod payments;
mod project_members;
mod project_models;
mod projects;
mod rate_limits;
mod sessions;
mod single_use_tokens;
mod spend;
mod spend_leases;
mod stored_id;
mod subscriptions;
#[cfg(feature = "testing")]
pub mod testing;
mod two_factor;
mod usage;
mod usage_lookup;
mod usage_queries;
mod usage_rollups;
mod usage_stream;
mod users;

pub use api_keys::{ApiKey, KeyCreator, KeyCredentials, NewKey};
pub use audit::{AuditEntry, AuditRecord};
pub use billing::{AutoRechargeSettings, BillingProfile, PostalAddress, StoredCard};
pub use changes::{Change, ChangeKind};
pub use cursor::PageRequest;
pub use db::{redact, Engine, PoolStats, Store, StoreOptions};
pub use error::{Conflict, StoreError};
pub use getting_started::FirstSteps;
pub use invitations::{Invitation, InviteError, NewInvitation, Reissue};
pub use leases::{HoldOf, LeaseGrowth, LeaseSizing};
pub use ledger::{CreditAccount, Grant, Granted, NewGrant};
pub use limits::{ProjectLimits, StoredBucket};
pub use members::Member;
pub use orgs::{Membership, Org};
pub use outbox::{enqueue_email_in, OutboxMessage, OutgoingEmail, Retry};
pub use payments::{BeganPayment, NewPayment, Payment, SettleEffects, Settled, Settlement};
pub use project_members::ProjectMember;
pub use project_models::AllowedModels;
pub use projects::{ArchiveRefusal, Project, ProjectWithRole};
pub use sessions::{SessionInfo, SessionUser, SESSION_LIST_MAX};
pub use spend::{SpendLimit, SpendUse};
pub use spend_leases::{SpendHolds, SpendPeriod};
pub use subscriptions::{
    ChargeOutcome, NewSubscription, PendingCharge, RenewalOutcome, Subscription, SubscriptionError,
    SubscriptionRefusal, TierState,
};
pub use two_factor::TotpState;
pub use usage::{RecordedUsage, UsageRecord};
pub use usage_queries::{
    KeyUsage, RequestEntry, RequestQuery, StatusClass, UsageDim, UsageGroup, UsageQuery,
};
pub use usage_rollups::{
    aggregate as usage_rollups_of, is_error_status, Grain, RollupKey, UsageTotals, DAY_MS, HOUR_MS,
};
pub use users::{NewUser, User, UserCredentials};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Bind parameters per multi-row statement, by engine. Far under SQLite's limit of 32,766 on purpose:
/// binding a statement's `$n` parameters costs SQLite time quadratic in their number (it finds
/// each by a linear search), and 13,000-parameter statements made `record_usage` ten times
/// slower on SQLite, while PostgreSQL gains little past a few dozen rows per round trip.
pub(crate) fn max_bind_params(engine: Engine) -> usize {
    match engine {
        // SQLite binds `$n` names by searching them, so large statements get slow fast.
        Engine::Sqlite => 100,
        Engine::Postgres => 1_000,
    }
}

/// `$first, $first+1, …`: the `count` placeholders of one row of a multi-row `VALUES`.
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    /// A uniqueness rule or a guard refused the write; nothing was written.
    #[error(transparent)]
    Conflict(#[from] Conflict),
    #[error("not found")]
    NotFound,
    #[error("database URL '{0}' is not supported: use sqlite:… or postgres://…")]
    UnsupportedUrl(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A ledger amount would leave `±LEDGER_LIMIT`: nothing was written.
    #[error(transparent)]
    OutOfRange(#[from] tollgate_domain::ledger::OutOfRange),
}

impl StoreError {
    /// True when the database refused the data itself (a constraint, a value out of range):
    /// the same write would fail again, unlike a lost connection or a timeout.
    pub fn is_refused_data(&self) -> bool {
        let Self::Database(sqlx::Error::Database(db)) = self else {
            return false;
        };
        db.kind() != sqlx::error::ErrorKind::Other
            || db.code().is_some_and(|code| code.starts_with("22"))
    }

    /// Maps a violation of `conflict`'s own unique index to `Conflict(conflict)`; any other
    /// error, another index's violation included, stays what it is.
    pub(crate) fn unique(err: sqlx::Error, conflict: Conflict) -> Self {
        match &err {
            sqlx::Error::Database(db)
                if db.is_unique_violation() && conflict.is_violated_by(db.as_ref()) =>
            {
                Self::Conflict(conflict)
            }
            _ => Self::Database(err),
        }
    }
}

/// Why the store refused a write that collided with what exists: one variant per rule, matched
/// by callers as a type, never as a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum Conflict {
    #[error("an account with this email exists")]
    Email,
    #[error("the organization's last admin cannot stop being one")]
    LastAdmin,
    #[error("an auto-recharge of this organization is in flight")]
    RechargeInFlight,
    #[error("an operator token with this name exists")]
    OperatorTokenName,
    #[error("an API key with this public id exists")]
    KeyPublicId,
    #[error("a pending invitation for this email exists")]
    PendingInvitation,
    #[error("the organization is subscribed to this model")]
    Subscription,
    #[error("the user is a member of the organization")]
    Membership,
    #[error("the rate bucket kept changing under concurrent writers")]
    RateBucket,
    #[error("available credit does not cover the hold")]
    InsufficientCredit,
}

impl Conflict {
    /// The unique index that decides this conflict: its name on PostgreSQL, and its columns as
    /// SQLite reports them (SQLite names no index in its error). `None` when a guard decides.
    fn unique_index(self) -> Option<(&'static str, &'static str)> {
        Some(match self {
            Self::Email => ("users_email_key", "users.email"),
            Self::RechargeInFlight => ("payments_one_recharge_in_flight", "payments.org_id"),
            Self::OperatorTokenName => ("operator_tokens_name_key", "operator_tokens.name"),
            Self::KeyPublicId => ("api_keys_public_id_key", "api_keys.public_id"),
            Self::PendingInvitation => (
                "invitations_one_pending_per_email",
                "invitations.org_id, invitations.email",
            ),
            Self::Subscription => (
                "subscriptions_one_per_model",
                "subscriptions.org_id, subscriptions.model",
            ),
            Self::Membership => (
                "memberships_pkey",
                "memberships.org_id, memberships.user_id",
            ),
            Self::LastAdmin | Self::RateBucket | Self::InsufficientCredit => return None,
        })
    }

    fn is_violated_by(self, db: &dyn sqlx::error::DatabaseError) -> bool {
        let Some((postgres, sqlite)) = self.unique_index() else {
            return false;
        };
        match db.constraint() {
            Some(name) => name == postgres,
            None => db
                .message()
                .strip_prefix("UNIQUE constraint failed: ")
                .is_some_and(|columns| columns == sqlite),
        }
    }
}

/// A value in the database that the schema's CHECK constraints should have made impossible.
pub(crate) fn corrupt(message: String) -> StoreError {
    StoreError::Database(sqlx::Error::Decode(message.into()))
}

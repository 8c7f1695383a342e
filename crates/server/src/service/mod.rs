//! The product's operations, shared by the console and the JSON API: each rule is enforced
//! here once, and each surface only renders the outcome its own way.

pub mod account_security;
pub mod accounts;
pub mod analytics;
pub mod api_keys;
pub mod audit;
pub mod auto_recharge;
pub mod billing;
pub mod charges;
pub mod email_verification;
pub mod entitlement;
pub mod invites;
pub mod members;
pub mod orgs;
pub mod password_reset;
pub mod playground;
pub mod previews;
pub mod project_members;
pub mod project_models;
pub mod projects;
pub mod rate_limits;
pub mod spend_limits;
pub mod stripe_events;
pub mod subscriptions;
pub mod two_factor;
pub mod usage;

use tollgate_domain::{OrgAction, OrgId, ProjectAction, ValidationError};
use tollgate_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// A request that is well-formed but asks for something the product does not allow.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("incorrect email or password")]
    InvalidCredentials,
    #[error("not signed in")]
    Unauthenticated,
    /// The password was right but sign-in needs the second factor (`totp_required`), or the
    /// code given is wrong or used (`totp_invalid`).
    #[error("{message}")]
    SecondFactor { code: &'static str, message: String },
    #[error("{}", .0.denied_message())]
    Forbidden(OrgAction),
    /// The organization requires two-factor sign-in and the caller's account has none
    /// (decision 0024): the console sends them to their account page.
    #[error("{org_name} requires two-factor sign-in; turn on two-factor sign-in in your account (Account → Two-factor authentication) to continue")]
    TwoFactorRequired { org_id: OrgId, org_name: String },
    #[error("{}", .0.denied_message())]
    ProjectForbidden(ProjectAction),
    /// Unknown, or belonging to another organization: both answer the same.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// Was valid once, no longer is (an expired or revoked invitation).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// Refused for a reason other than the permission table (e.g. an invitation for another
    /// email address).
    #[error("{message}")]
    Denied { code: &'static str, message: String },
    /// A charge the provider refused (`card_declined`, `insufficient_funds`, …): nothing was
    /// taken and no balance changed.
    #[error("{message}")]
    PaymentRequired { code: &'static str, message: String },
    #[error("too many attempts; try again in {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },
    /// Every turn at an expensive step (password hashing) is taken; nothing was done.
    #[error("the server is busy; try again in {retry_after_secs} seconds")]
    Busy { retry_after_secs: u64 },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        Self::Internal(e.into())
    }
}

impl ServiceError {
    pub fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode as S;
        match self {
            Self::Invalid(_) => S::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } => S::BAD_REQUEST,
            Self::EmailTaken | Self::Conflict { .. } => S::CONFLICT,
            Self::InvalidCredentials | Self::Unauthenticated | Self::SecondFactor { .. } => {
                S::UNAUTHORIZED
            }
            Self::Forbidden(_)
            | Self::ProjectForbidden(_)
            | Self::Denied { .. }
            | Self::TwoFactorRequired { .. } => S::FORBIDDEN,
            Self::Gone { .. } => S::GONE,
            Self::NotFound(_) => S::NOT_FOUND,
            Self::TooManyRequests { .. } => S::TOO_MANY_REQUESTS,
            Self::Busy { .. } => S::SERVICE_UNAVAILABLE,
            Self::PaymentRequired { .. } => S::PAYMENT_REQUIRED,
            Self::Internal(_) => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable machine-readable code of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid(_) => "validation_failed",
            Self::BadRequest { code, .. }
            | Self::Conflict { code, .. }
            | Self::Gone { code, .. }
            | Self::Denied { code, .. }
            | Self::SecondFactor { code, .. }
            | Self::PaymentRequired { code, .. } => code,
            Self::EmailTaken => "email_taken",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden(_) | Self::ProjectForbidden(_) => "forbidden",
            Self::TwoFactorRequired { .. } => "two_factor_required",
            Self::NotFound(_) => "not_found",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Busy { .. } => "busy",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The message a user may see. Internal errors are logged, never shown.
    pub fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "Something went wrong on our side; it has been logged.".to_owned(),
            other => {
                let mut m = other.to_string();
                if let Some(first) = m.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                m
            }
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// One page of a list: the store returns up to `limit + 1` rows, the extra one meaning "more".
#[derive(Debug)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub has_more: bool,
}

impl<T> Page<T> {
    pub fn from_rows(mut rows: Vec<T>, limit: i64) -> Self {
        let limit = usize::try_from(limit).unwrap_or(0);
        let has_more = rows.len() > limit;
        rows.truncate(limit);
        Self {
            data: rows,
            has_more,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            data: self.data.into_iter().map(f).collect(),
            has_more: self.has_more,
        }
    }
}

/// Page sizes: 20 by default, at most 100.
pub fn page_limit(requested: Option<i64>) -> Result<i64, tollgate_domain::ValidationError> {
    match requested {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(tollgate_domain::ValidationError::new(
            "limit",
            "`limit` must be between 1 and 100.",
        )),
    }
}

/// An audit entry for a change made by `user` from `client`.
pub(crate) fn audit<'a>(
    user: &'a tollgate_store::User,
    client: &'a crate::auth::ClientInfo,
    action: &'a str,
    target_type: &'a str,
    target_id: &'a str,
    details: serde_json::Value,
) -> tollgate_store::AuditEntry<'a> {
    tollgate_store::AuditEntry {
        actor_id: Some(&user.id),
        actor_email: Some(&user.email),
        action,
        target_type,
        target_id,
        details,
        ip: client.ip.as_deref(),
    }
}

/// The cause recorded on each key revoked because its creator `member_id` lost access
/// (`reason`: `removed_from_project`, `removed_from_organization`).
pub(crate) fn keys_lost_audit<'a>(
    user: &'a tollgate_store::User,
    client: &'a crate::auth::ClientInfo,
    member_id: &tollgate_domain::UserId,
    reason: &str,
) -> tollgate_store::AuditEntry<'a> {
    audit(
        user,
        client,
        "api_key.revoke",
        "api_key",
        "",
        serde_json::json!({"reason": reason, "creator_id": member_id}),
    )
}

/// `StoreError::NotFound` as the service's `NotFound(what)`; other errors unchanged.
pub(crate) fn not_found_as(what: &'static str) -> impl Fn(StoreError) -> ServiceError {
    move |e| match e {
        StoreError::NotFound => ServiceError::NotFound(what),
        other => other.into(),
    }
}

/// The answer to an `after` that names nothing in the list.
pub(crate) fn invalid_cursor() -> ServiceError {
    ServiceError::BadRequest {
        code: "invalid_cursor",
        message: "`after` must be the id of an item of this list.".to_owned(),
    }
}

/// Checks an `after` cursor's shape before it reaches the database (PostgreSQL refuses NUL
/// bytes outright; garbage must be a clear 400, never a 500).
fn check_cursor(after: Option<&str>, prefix: tollgate_domain::IdPrefix) -> ServiceResult<()> {
    match after {
        Some(a) if !tollgate_domain::ids::is_well_formed(prefix, a) => Err(invalid_cursor()),
        _ => Ok(()),
    }
}

/// One page of a list, the one way every list pages (decision 0010): the `after` cursor
/// must name an id of the list's kind (400 `invalid_cursor` before any query), `fetch` asks
/// the store for `limit` + 1 rows after it, and a cursor that names nothing there is the same
/// 400.
pub(crate) async fn page_of<'a, T, Fut>(
    after: Option<&'a str>,
    kind: tollgate_domain::IdPrefix,
    limit: i64,
    fetch: impl FnOnce(tollgate_store::PageRequest<'a>) -> Fut,
) -> ServiceResult<Page<T>>
where
    Fut: std::future::Future<Output = Result<Vec<T>, StoreError>>,
{
    check_cursor(after, kind)?;
    let rows = fetch(tollgate_store::PageRequest::after(after, limit))
        .await
        .map_err(cursor_error)?;
    Ok(Page::from_rows(rows, limit))
}

/// A list's store error: `NotFound` there means the `after` cursor named nothing.
pub(crate) fn cursor_error(e: StoreError) -> ServiceError {
    match e {
        StoreError::NotFound => invalid_cursor(),
        other => other.into(),
    }
}

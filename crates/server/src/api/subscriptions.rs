//! `GET`/`POST /api/v1/orgs/{org}/subscriptions`, `PATCH`/`DELETE …/subscriptions/{sub}`
//! (org admins only).

use crate::api::extract::ApiPath;
use std::sync::Arc;
use tollgate_domain::{OrgId, SubscriptionId};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_domain::ValidationError;
use tollgate_store::Subscription;
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery, ApiSession};
use crate::api::pagination::{List, ListParams};
use crate::app::App;
use crate::auth::ClientInfo;
use crate::service::{cursor_error, Page, ServiceError};
use crate::time::rfc3339;

#[derive(Serialize, ToSchema)]
pub struct SubscriptionView {
    #[schema(example = "sub_4f1c2a9e0b7d3c5a1e2f4b6d")]
    pub id: String,
    #[schema(example = "llama-3.1-8b-instruct")]
    pub model: String,
    #[schema(example = "pro")]
    pub tier: String,
    /// `incomplete` (first charge in progress), `active`, `past_due` or `canceled`.
    #[schema(example = "active")]
    pub status: &'static str,
    /// The tier's monthly price in USD, a decimal string (as the catalog says now).
    #[schema(example = "199.00")]
    pub monthly_price: Option<String>,
    pub current_period_start: String,
    pub current_period_end: String,
    /// A cheaper tier taking effect at `current_period_end`.
    pub pending_tier: Option<String>,
    /// The subscription ends at `current_period_end`.
    pub cancel_at_period_end: bool,
    /// When a pending change (downgrade or cancellation) takes effect.
    pub changes_on: Option<String>,
    /// When a past-due renewal is tried again.
    pub next_retry_at: Option<String>,
    pub canceled_at: Option<String>,
    pub created_at: String,
}

impl SubscriptionView {
    pub fn new(s: &Subscription, app: &App) -> Self {
        let catalog = app.catalog.current();
        let price = catalog
            .model(&s.model)
            .and_then(|m| m.tiers.iter().find(|t| t.id == s.tier))
            .map(|t| t.monthly_price.to_usd_string());
        let pending_change = s.pending_tier.is_some() || s.cancel_at_period_end;
        Self {
            id: s.id.to_string(),
            model: s.model.clone(),
            tier: s.tier.clone(),
            status: s.status.as_str(),
            monthly_price: price,
            current_period_start: rfc3339(s.current_period_start),
            current_period_end: rfc3339(s.current_period_end),
            pending_tier: s.pending_tier.clone(),
            cancel_at_period_end: s.cancel_at_period_end,
            changes_on: pending_change.then(|| rfc3339(s.current_period_end)),
            next_retry_at: s.next_retry_at.map(rfc3339),
            canceled_at: s.canceled_at.map(rfc3339),
            created_at: rfc3339(s.created_at),
        }
    }
}

/// The organization's subscriptions, canceled ones included, oldest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/subscriptions", tag = "subscriptions",
    params(("org" = String, Path, description = "Organization ID"), ListParams),
    responses(
        (status = 200, body = List<SubscriptionView>),
        (status = 403, description = "Not an org admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<List<SubscriptionView>>> {
    let limit = params.limit()?;
    let all = app.list_subscriptions(&session.user, &org_id).await?;
    let start = match params.after.as_deref() {
        Some(after) => {
            all.iter()
                .position(|s| s.id == after)
                .ok_or_else(|| cursor_error(tollgate_store::StoreError::NotFound))?
                + 1
        }
        None => 0,
    };
    let rows: Vec<_> = all
        .iter()
        .skip(start)
        .take(usize::try_from(limit).unwrap_or(0) + 1)
        .collect();
    Ok(Json(List::from_page(Page::from_rows(rows, limit), |s| {
        SubscriptionView::new(s, &app)
    })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeRequest {
    #[schema(example = "llama-3.1-8b-instruct")]
    pub model: String,
    #[schema(example = "starter")]
    pub tier: String,
}

/// Subscribe to a tier of a model: the monthly price is charged to the saved card at once and
/// the period runs one calendar month.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/subscriptions", tag = "subscriptions",
    params(("org" = String, Path, description = "Organization ID")),
    request_body = SubscribeRequest,
    responses(
        (status = 201, body = SubscriptionView),
        (status = 402, description = "The card was declined", body = ErrorBody),
        (status = 403, description = "Not an org admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already subscribed to the model, the tier is Temporarily Sold Out, or no payment method", body = ErrorBody),
        (status = 422, description = "Unknown model or tier", body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiJson(body): ApiJson<SubscribeRequest>,
) -> ApiResult<(StatusCode, Json<SubscriptionView>)> {
    let sub = app
        .subscribe(&session.user, &org_id, &body.model, &body.tier, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(SubscriptionView::new(&sub, &app))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    /// Another tier of the model: dearer ones apply at once (prorated charge), cheaper ones at
    /// the period end; the current tier undoes a pending downgrade.
    pub tier: Option<String>,
    /// `false` withdraws a cancellation before the period ends.
    pub cancel_at_period_end: Option<bool>,
}

/// Change a subscription's tier, or withdraw its cancellation.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/subscriptions/{sub}", tag = "subscriptions",
    params(("org" = String, Path, description = "Organization ID"), ("sub" = String, Path, description = "Subscription ID")),
    request_body = ChangeRequest,
    responses(
        (status = 200, body = SubscriptionView),
        (status = 402, description = "The upgrade charge was declined", body = ErrorBody),
        (status = 403, description = "Not an org admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already on that tier, canceled, sold out, or busy", body = ErrorBody),
        (status = 422, description = "Unknown tier, or not exactly one of `tier` and `cancel_at_period_end`", body = ErrorBody),
    ))]
pub async fn update(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, sub_id)): ApiPath<(OrgId, SubscriptionId)>,
    ApiJson(body): ApiJson<ChangeRequest>,
) -> ApiResult<Json<SubscriptionView>> {
    let sub = match (body.tier, body.cancel_at_period_end) {
        (Some(tier), None) => {
            app.change_subscription_tier(&session.user, &org_id, &sub_id, &tier, &client)
                .await?
        }
        (None, Some(cancel)) => {
            app.set_subscription_cancel(&session.user, &org_id, &sub_id, cancel, &client)
                .await?
        }
        _ => {
            return Err(ServiceError::Invalid(ValidationError::new(
                "tier",
                "Send either `tier` or `cancel_at_period_end`.",
            ))
            .into())
        }
    };
    Ok(Json(SubscriptionView::new(&sub, &app)))
}

/// Cancel a subscription at the end of its period (undo with `PATCH {"cancel_at_period_end": false}`).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/subscriptions/{sub}", tag = "subscriptions",
    params(("org" = String, Path, description = "Organization ID"), ("sub" = String, Path, description = "Subscription ID")),
    responses(
        (status = 200, body = SubscriptionView),
        (status = 403, description = "Not an org admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already canceled or being canceled", body = ErrorBody),
    ))]
pub async fn cancel(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, sub_id)): ApiPath<(OrgId, SubscriptionId)>,
) -> ApiResult<Json<SubscriptionView>> {
    let sub = app
        .set_subscription_cancel(&session.user, &org_id, &sub_id, true, &client)
        .await?;
    Ok(Json(SubscriptionView::new(&sub, &app)))
}

//! Monthly spend limits (docs/limits.md "Spend limits"): `GET`/`PUT`/`DELETE` on
//! `/api/v1/orgs/{org}/spend-limit`, `…/projects/{project}/spend-limit` and
//! `…/projects/{project}/api-keys/{key}/spend-limit`. Org admins set the organization's and
//! projects' limits; project admins (and org admins) their project's keys'.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_domain::limits::spend::{Thresholds, MAX_THRESHOLDS};
use tollgate_domain::Money;
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiSession};
use crate::app::App;
use crate::auth::{ClientInfo, CurrentSession};
use crate::service::spend_limits::{SpendLimitView, SpendTarget};
use crate::service::ServiceError;

/// A monthly spend limit to set.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendLimitInput {
    /// USD per calendar month (UTC), a decimal string: more than 0, at most 1000000.
    #[schema(example = "250.00")]
    pub monthly_limit: String,
    /// Percentages of the limit (1–100, at most 10, each once) at which the organization's
    /// admins are emailed, once per month each. Omitted: 50, 80 and 100; empty: no alerts.
    #[schema(example = json!([50, 80, 100]))]
    pub alert_thresholds: Option<Vec<i64>>,
}

/// A monthly spend limit and this month's use of it.
#[derive(Serialize, ToSchema)]
pub struct SpendLimitBody {
    /// `organization`, `project` or `api_key`.
    pub scope: String,
    /// The organization's, project's or key's id.
    pub target_id: String,
    pub monthly_limit: String,
    pub alert_thresholds: Vec<u8>,
    /// The current month, `YYYY-MM` (UTC).
    pub period: String,
    /// Spent this month (USD).
    pub spent: String,
    /// Reserved this month by requests in flight (USD).
    pub reserved: String,
}

impl From<SpendLimitView> for SpendLimitBody {
    fn from(v: SpendLimitView) -> Self {
        Self {
            scope: v.limit.scope.as_str().to_owned(),
            target_id: v.limit.target_id,
            monthly_limit: v.limit.monthly_limit.to_usd_string(),
            alert_thresholds: v.limit.thresholds.percents().to_vec(),
            period: v.period,
            spent: Money::from_micros(v.used.spent).to_usd_string(),
            reserved: Money::from_micros(v.used.reserved).to_usd_string(),
        }
    }
}

fn parse_input(input: &SpendLimitInput) -> Result<(Money, Option<Thresholds>), ServiceError> {
    let amount = Money::parse_usd("monthly_limit", input.monthly_limit.trim())?;
    let thresholds = match &input.alert_thresholds {
        None => None,
        Some(list) if list.len() > MAX_THRESHOLDS => {
            return Err(ServiceError::BadRequest {
                code: "invalid_request",
                message: format!("alert_thresholds: at most {MAX_THRESHOLDS} thresholds"),
            })
        }
        Some(list) => Some(Thresholds::new(list)?),
    };
    Ok((amount, thresholds))
}

async fn get_limit(
    app: &App,
    session: &CurrentSession,
    org_id: &str,
    target: SpendTarget<'_>,
) -> ApiResult<Json<SpendLimitBody>> {
    app.spend_limit(&session.user, org_id, target)
        .await?
        .map(|v| Json(v.into()))
        .ok_or_else(|| ServiceError::NotFound("spend limit").into())
}

async fn put_limit(
    app: &App,
    session: &CurrentSession,
    client: &ClientInfo,
    org_id: &str,
    target: SpendTarget<'_>,
    input: &SpendLimitInput,
) -> ApiResult<Json<SpendLimitBody>> {
    let (amount, thresholds) = parse_input(input)?;
    let view = app
        .set_spend_limit(&session.user, org_id, target, amount, thresholds, client)
        .await?;
    Ok(Json(view.into()))
}

/// The organization's monthly spend limit.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/spend-limit", tag = "limits",
    params(("org" = String, Path, description = "Organization ID")),
    responses(
        (status = 200, body = SpendLimitBody),
        (status = 404, description = "No such organization, or it has no spend limit", body = ErrorBody),
    ))]
pub async fn get_org(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    Path(org_id): Path<String>,
) -> ApiResult<Json<SpendLimitBody>> {
    get_limit(&app, &session, &org_id, SpendTarget::Organization).await
}

/// Set the organization's monthly spend limit (org admins). Requests that could exceed it get
/// 402 `spend_limit_reached`, in every process within a second.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/spend-limit", tag = "limits",
    params(("org" = String, Path, description = "Organization ID")),
    request_body = SpendLimitInput,
    responses(
        (status = 200, body = SpendLimitBody),
        (status = 400, description = "An amount or a threshold out of bounds", body = ErrorBody),
        (status = 403, description = "Not an org admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn put_org(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    Path(org_id): Path<String>,
    ApiJson(body): ApiJson<SpendLimitInput>,
) -> ApiResult<Json<SpendLimitBody>> {
    put_limit(
        &app,
        &session,
        &client,
        &org_id,
        SpendTarget::Organization,
        &body,
    )
    .await
}

/// Remove the organization's monthly spend limit (org admins).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/spend-limit", tag = "limits",
    params(("org" = String, Path, description = "Organization ID")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such organization, or it has no spend limit", body = ErrorBody),
    ))]
pub async fn delete_org(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    Path(org_id): Path<String>,
) -> ApiResult<StatusCode> {
    app.delete_spend_limit(&session.user, &org_id, SpendTarget::Organization, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A project's monthly spend limit.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects/{project}/spend-limit", tag = "limits",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID")),
    responses(
        (status = 200, body = SpendLimitBody),
        (status = 404, description = "No such project, or it has no spend limit", body = ErrorBody),
    ))]
pub async fn get_project(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    Path((org_id, project_id)): Path<(String, String)>,
) -> ApiResult<Json<SpendLimitBody>> {
    get_limit(&app, &session, &org_id, SpendTarget::Project(&project_id)).await
}

/// Set a project's monthly spend limit (org admins).
#[utoipa::path(put, path = "/api/v1/orgs/{org}/projects/{project}/spend-limit", tag = "limits",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID")),
    request_body = SpendLimitInput,
    responses(
        (status = 200, body = SpendLimitBody),
        (status = 400, description = "An amount or a threshold out of bounds", body = ErrorBody),
        (status = 403, description = "Not an org admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn put_project(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    Path((org_id, project_id)): Path<(String, String)>,
    ApiJson(body): ApiJson<SpendLimitInput>,
) -> ApiResult<Json<SpendLimitBody>> {
    let target = SpendTarget::Project(&project_id);
    put_limit(&app, &session, &client, &org_id, target, &body).await
}

/// Remove a project's monthly spend limit (org admins).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/projects/{project}/spend-limit", tag = "limits",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such project, or it has no spend limit", body = ErrorBody),
    ))]
pub async fn delete_project(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    Path((org_id, project_id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let target = SpendTarget::Project(&project_id);
    app.delete_spend_limit(&session.user, &org_id, target, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An API key's monthly spend limit.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects/{project}/api-keys/{key}/spend-limit", tag = "limits",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID"), ("key" = String, Path, description = "Key ID")),
    responses(
        (status = 200, body = SpendLimitBody),
        (status = 404, description = "No such live key, or it has no spend limit", body = ErrorBody),
    ))]
pub async fn get_key(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    Path((org_id, project_id, key_id)): Path<(String, String, String)>,
) -> ApiResult<Json<SpendLimitBody>> {
    let target = SpendTarget::ApiKey {
        project_id: &project_id,
        key_id: &key_id,
    };
    get_limit(&app, &session, &org_id, target).await
}

/// Set an API key's monthly spend limit (org admins and the project's admins).
#[utoipa::path(put, path = "/api/v1/orgs/{org}/projects/{project}/api-keys/{key}/spend-limit", tag = "limits",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID"), ("key" = String, Path, description = "Key ID")),
    request_body = SpendLimitInput,
    responses(
        (status = 200, body = SpendLimitBody),
        (status = 400, description = "An amount or a threshold out of bounds", body = ErrorBody),
        (status = 403, description = "Not a project admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn put_key(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    Path((org_id, project_id, key_id)): Path<(String, String, String)>,
    ApiJson(body): ApiJson<SpendLimitInput>,
) -> ApiResult<Json<SpendLimitBody>> {
    let target = SpendTarget::ApiKey {
        project_id: &project_id,
        key_id: &key_id,
    };
    put_limit(&app, &session, &client, &org_id, target, &body).await
}

/// Remove an API key's monthly spend limit (org admins and the project's admins).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/projects/{project}/api-keys/{key}/spend-limit", tag = "limits",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID"), ("key" = String, Path, description = "Key ID")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, description = "No such live key, or it has no spend limit", body = ErrorBody),
    ))]
pub async fn delete_key(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    Path((org_id, project_id, key_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let target = SpendTarget::ApiKey {
        project_id: &project_id,
        key_id: &key_id,
    };
    app.delete_spend_limit(&session.user, &org_id, target, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

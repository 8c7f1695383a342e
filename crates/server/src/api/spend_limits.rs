//! Monthly spend limits (docs/limits.md "Spend limits"): `GET`/`PUT`/`DELETE` on
//! `/api/v1/orgs/{org}/spend-limit`, `…/projects/{project}/spend-limit` and
//! `…/projects/{project}/api-keys/{key}/spend-limit`. Org admins set the organization's and
//! projects' limits; project admins (and org admins) their project's keys'.

use std::sync::Arc;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_domain::limits::spend::{Thresholds, MAX_THRESHOLDS};
use tollgate_domain::{ApiKeyId, Money, OrgId, ProjectId};
use utoipa::ToSchema;

use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiSession};
use crate::app::App;
use crate::auth::{ClientInfo, CurrentSession};
use crate::path_ids::malformed_path_id;
use crate::path_ids::MalformedId;
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
            spent: v.used.spent.to_usd_string(),
            reserved: v.used.reserved.to_usd_string(),
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

/// Where a spend limit is, from the request path: `{org}`, then `{project}` and `{key}` when the
/// route has them. The one thing the three scopes' handlers differ in.
pub struct LimitAt {
    org_id: OrgId,
    project_id: Option<ProjectId>,
    key_id: Option<ApiKeyId>,
}

#[derive(Deserialize)]
struct LimitPath {
    org: String,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    key: Option<String>,
}

impl LimitAt {
    fn target(&self) -> SpendTarget<'_> {
        match (&self.project_id, &self.key_id) {
            (None, _) => SpendTarget::Organization,
            (Some(project_id), None) => SpendTarget::Project(project_id),
            (Some(project_id), Some(key_id)) => SpendTarget::ApiKey { project_id, key_id },
        }
    }
}

/// The ids typed as `ApiPath` types them, a malformed one answered as it answers.
impl FromRequestParts<Arc<App>> for LimitAt {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let Path(p) = Path::<LimitPath>::from_request_parts(parts, app).await?;
        let Some(org_id) = OrgId::parse(&p.org) else {
            return Err(malformed(parts, app, "organization", None).await);
        };
        let project_id = match p.project.as_deref().map(ProjectId::parse) {
            None => None,
            Some(Some(project_id)) => Some(project_id),
            Some(None) => return Err(malformed(parts, app, "project", Some(org_id)).await),
        };
        let key_id = match p.key.as_deref().map(ApiKeyId::parse) {
            None => None,
            Some(Some(key_id)) => Some(key_id),
            Some(None) => return Err(malformed(parts, app, "API key", Some(org_id)).await),
        };
        Ok(Self {
            org_id,
            project_id,
            key_id,
        })
    }
}

/// A malformed id in a spend limit's path, answered as `ApiPath` answers it.
async fn malformed(
    parts: &mut Parts,
    app: &Arc<App>,
    what: &'static str,
    org: Option<OrgId>,
) -> ApiError {
    match ApiSession::from_request_parts(parts, app).await {
        Ok(ApiSession(session)) => malformed_path_id(app, &session, MalformedId { what, org })
            .await
            .into(),
        Err(e) => e,
    }
}

async fn get_limit(
    app: Arc<App>,
    session: CurrentSession,
    at: LimitAt,
) -> ApiResult<Json<SpendLimitBody>> {
    app.spend_limit(&session.user, &at.org_id, at.target())
        .await?
        .map(|v| Json(v.into()))
        .ok_or_else(|| ServiceError::NotFound("spend limit").into())
}

async fn put_limit(
    app: Arc<App>,
    session: CurrentSession,
    client: ClientInfo,
    at: LimitAt,
    input: SpendLimitInput,
) -> ApiResult<Json<SpendLimitBody>> {
    let (amount, thresholds) = parse_input(&input)?;
    let view = app
        .set_spend_limit(
            &session.user,
            &at.org_id,
            at.target(),
            amount,
            thresholds,
            &client,
        )
        .await?;
    Ok(Json(view.into()))
}

async fn delete_limit(
    app: Arc<App>,
    session: CurrentSession,
    client: ClientInfo,
    at: LimitAt,
) -> ApiResult<StatusCode> {
    app.delete_spend_limit(&session.user, &at.org_id, at.target(), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The `GET`, `PUT` and `DELETE` handlers of one scope, with their OpenAPI attributes (the
/// attributes differ per scope; the bodies are `get_limit`, `put_limit` and `delete_limit`).
macro_rules! spend_limit_handlers {
    (
        $(#[$get_meta:meta])* get $get:ident;
        $(#[$put_meta:meta])* put $put:ident;
        $(#[$delete_meta:meta])* delete $delete:ident;
    ) => {
        $(#[$get_meta])*
        pub async fn $get(
            State(app): State<Arc<App>>,
            ApiSession(session): ApiSession,
            at: LimitAt,
        ) -> ApiResult<Json<SpendLimitBody>> {
            get_limit(app, session, at).await
        }

        $(#[$put_meta])*
        pub async fn $put(
            State(app): State<Arc<App>>,
            ApiSession(session): ApiSession,
            client: ClientInfo,
            at: LimitAt,
            ApiJson(body): ApiJson<SpendLimitInput>,
        ) -> ApiResult<Json<SpendLimitBody>> {
            put_limit(app, session, client, at, body).await
        }

        $(#[$delete_meta])*
        pub async fn $delete(
            State(app): State<Arc<App>>,
            ApiSession(session): ApiSession,
            client: ClientInfo,
            at: LimitAt,
        ) -> ApiResult<StatusCode> {
            delete_limit(app, session, client, at).await
        }
    };
}

spend_limit_handlers! {
    /// The organization's monthly spend limit.
    #[utoipa::path(get, path = "/api/v1/orgs/{org}/spend-limit", tag = "limits",
        params(("org" = String, Path, description = "Organization ID")),
        responses(
            (status = 200, body = SpendLimitBody),
            (status = 404, description = "No such organization, or it has no spend limit", body = ErrorBody),
        ))]
    get get_org;

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
    put put_org;

    /// Remove the organization's monthly spend limit (org admins).
    #[utoipa::path(delete, path = "/api/v1/orgs/{org}/spend-limit", tag = "limits",
        params(("org" = String, Path, description = "Organization ID")),
        responses(
            (status = 204, description = "Removed"),
            (status = 403, body = ErrorBody),
            (status = 404, description = "No such organization, or it has no spend limit", body = ErrorBody),
        ))]
    delete delete_org;
}

spend_limit_handlers! {
    /// A project's monthly spend limit.
    #[utoipa::path(get, path = "/api/v1/orgs/{org}/projects/{project}/spend-limit", tag = "limits",
        params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID")),
        responses(
            (status = 200, body = SpendLimitBody),
            (status = 404, description = "No such project, or it has no spend limit", body = ErrorBody),
        ))]
    get get_project;

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
    put put_project;

    /// Remove a project's monthly spend limit (org admins).
    #[utoipa::path(delete, path = "/api/v1/orgs/{org}/projects/{project}/spend-limit", tag = "limits",
        params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID")),
        responses(
            (status = 204, description = "Removed"),
            (status = 403, body = ErrorBody),
            (status = 404, description = "No such project, or it has no spend limit", body = ErrorBody),
        ))]
    delete delete_project;
}

spend_limit_handlers! {
    /// An API key's monthly spend limit.
    #[utoipa::path(get, path = "/api/v1/orgs/{org}/projects/{project}/api-keys/{key}/spend-limit", tag = "limits",
        params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID"), ("key" = String, Path, description = "Key ID")),
        responses(
            (status = 200, body = SpendLimitBody),
            (status = 404, description = "No such live key, or it has no spend limit", body = ErrorBody),
        ))]
    get get_key;

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
    put put_key;

    /// Remove an API key's monthly spend limit (org admins and the project's admins).
    #[utoipa::path(delete, path = "/api/v1/orgs/{org}/projects/{project}/api-keys/{key}/spend-limit", tag = "limits",
        params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID"), ("key" = String, Path, description = "Key ID")),
        responses(
            (status = 204, description = "Removed"),
            (status = 403, body = ErrorBody),
            (status = 404, description = "No such live key, or it has no spend limit", body = ErrorBody),
        ))]
    delete delete_key;
}

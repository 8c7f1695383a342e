//! `POST /api/v1/orgs`, `GET`/`PATCH /api/v1/orgs/{org}`.

use crate::api::extract::ApiPath;
use std::sync::Arc;
use tollgate_domain::OrgId;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use tollgate_domain::{OrgAction, OrgRole};
use utoipa::ToSchema;

use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiSession};
use crate::api::views::OrgView;
use crate::app::App;
use crate::auth::ClientInfo;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrgRequest {
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

/// Create a team organization; the caller becomes its Organization Admin.
#[utoipa::path(post, path = "/api/v1/orgs", tag = "organizations",
    request_body = CreateOrgRequest,
    responses(
        (status = 201, body = OrgView),
        (status = 401, body = ErrorBody),
        (status = 422, description = "Empty or over-long name", body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiJson(body): ApiJson<CreateOrgRequest>,
) -> ApiResult<(StatusCode, Json<OrgView>)> {
    let org = app.create_org(&session.user, &body.name, &client).await?;
    Ok((
        StatusCode::CREATED,
        Json(OrgView::new(&org, OrgRole::OrgAdmin)),
    ))
}

/// Read an organization the caller belongs to.
#[utoipa::path(get, path = "/api/v1/orgs/{org}", tag = "organizations",
    params(("org" = String, Path, description = "Organization ID")),
    responses(
        (status = 200, body = OrgView),
        (status = 404, description = "Unknown, or not the caller's", body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(org_id): ApiPath<OrgId>,
) -> ApiResult<Json<OrgView>> {
    let membership = app
        .org_access_for(&session.user, &org_id, OrgAction::ViewSettings)
        .await?;
    Ok(Json(OrgView::from(&membership)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateOrgRequest {
    /// The new name, 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: Option<String>,
    /// Require two-factor sign-in of every member: while on, a member without it gets 403
    /// `two_factor_required` on the organization's endpoints. Turning it on needs two-factor
    /// sign-in on the caller's own account (409 `two_factor_not_enabled`).
    pub require_2fa: Option<bool>,
    /// Not writable: an organization's type is changed by support. Present only so that a
    /// request carrying it gets a clear answer.
    #[serde(rename = "type")]
    #[schema(value_type = Option<String>)]
    pub org_type: Option<serde_json::Value>,
}

/// Rename an organization or require two-factor sign-in of its members (org admins only).
/// `type` is refused: contact support.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}", tag = "organizations",
    params(("org" = String, Path, description = "Organization ID")),
    request_body = UpdateOrgRequest,
    responses(
        (status = 200, body = OrgView),
        (status = 400, description = "`type` given, or nothing to change", body = ErrorBody),
        (status = 403, description = "Not an org admin, or the organization requires two-factor sign-in (`two_factor_required`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "`require_2fa: true` while the caller has no two-factor sign-in (`two_factor_not_enabled`)", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiJson(body): ApiJson<UpdateOrgRequest>,
) -> ApiResult<Json<OrgView>> {
    // Authorize before judging the body, so that non-members learn nothing (`update_org` asks
    // again for each change it makes).
    let action = if body.name.is_none() && body.require_2fa.is_some() {
        OrgAction::RequireTwoFactor
    } else {
        OrgAction::RenameOrg
    };
    let membership = app.org_access_for(&session.user, &org_id, action).await?;
    if body.org_type.is_some() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "read_only_field",
            "The organization type cannot be changed here; contact support to change it.",
        ));
    }
    if body.name.is_none() && body.require_2fa.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "nothing_to_update",
            "Give a `name` to rename the organization, or `require_2fa`.",
        ));
    }
    let org = app
        .update_org(
            &session.user,
            &org_id,
            body.name.as_deref(),
            body.require_2fa,
            &client,
        )
        .await?;
    Ok(Json(OrgView::new(&org, membership.role)))
}

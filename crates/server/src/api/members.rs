//! `GET /api/v1/orgs/{org}/members`, `PATCH`/`DELETE …/members/{user}` — org admins only.

use crate::api::extract::ApiPath;
use std::sync::Arc;
use tollgate_domain::{OrgId, UserId};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_store::Member;
use utoipa::{IntoParams, ToSchema};

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery, ApiSession};
use crate::api::pagination::List;
use crate::app::App;
use crate::auth::ClientInfo;
use crate::time::rfc3339;

#[derive(Serialize, ToSchema)]
pub struct MemberView {
    /// The user's id.
    pub id: String,
    pub name: String,
    pub email: String,
    /// `org_admin` or `member`.
    pub role: &'static str,
    pub joined_at: String,
    /// Whether the member signs in with a second factor: those without it are locked out
    /// while the organization requires it.
    pub totp_enabled: bool,
}

impl From<Member> for MemberView {
    fn from(m: Member) -> Self {
        Self {
            id: m.user_id.into_string(),
            name: m.name,
            email: m.email,
            role: m.role.as_str(),
            joined_at: rfc3339(m.joined_at),
            totp_enabled: m.totp_enabled,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MemberListParams {
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// The id of the last member of the previous page.
    pub after: Option<String>,
    /// Case-insensitive search in names and emails.
    pub q: Option<String>,
}

/// Members of the organization, ordered by email.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/members", tag = "members",
    params(("org" = String, Path, description = "Organization ID"), MemberListParams),
    responses(
        (status = 200, body = List<MemberView>),
        (status = 403, description = "Not an org admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiQuery(params): ApiQuery<MemberListParams>,
) -> ApiResult<Json<List<MemberView>>> {
    let limit =
        crate::service::page_limit(params.limit).map_err(crate::service::ServiceError::from)?;
    let page = app
        .list_members(
            &session.user,
            &org_id,
            params.q.as_deref(),
            params.after.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(List::from_page(page, MemberView::from)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMemberRequest {
    /// `org_admin` or `member`.
    pub role: String,
}

/// Change a member's organization role. The last Organization Admin cannot be demoted (409).
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/members/{user}", tag = "members",
    params(("org" = String, Path), ("user" = String, Path, description = "User ID")),
    request_body = UpdateMemberRequest,
    responses(
        (status = 200, body = MemberView),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The last Organization Admin", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn update(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, user_id)): ApiPath<(OrgId, UserId)>,
    ApiJson(body): ApiJson<UpdateMemberRequest>,
) -> ApiResult<Json<MemberView>> {
    let member = app
        .change_member_role(&session.user, &org_id, &user_id, &body.role, &client)
        .await?;
    Ok(Json(member.into()))
}

/// Remove a member. Their sessions lose access to the organization at once. The last
/// Organization Admin cannot be removed (409).
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/members/{user}", tag = "members",
    params(("org" = String, Path), ("user" = String, Path, description = "User ID")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The last Organization Admin", body = ErrorBody),
    ))]
pub async fn remove(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, user_id)): ApiPath<(OrgId, UserId)>,
) -> ApiResult<StatusCode> {
    app.remove_member(&session.user, &org_id, &user_id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

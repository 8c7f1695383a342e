//! `GET …/projects/{project}/members`, `PUT`/`DELETE …/members/{user}`.

use crate::api::extract::ApiPath;
use std::sync::Arc;
use tollgate_domain::{OrgId, ProjectId, UserId};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery, ApiSession};
use crate::api::pagination::{List, ListParams};
use crate::api::views::ProjectMemberView;
use crate::app::App;
use crate::auth::ClientInfo;

/// A project's members (org admins, who administer every project, are not listed).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects/{project}/members", tag = "projects",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID"), ListParams),
    responses(
        (status = 200, body = List<ProjectMemberView>),
        (status = 404, body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath((org_id, project_id)): ApiPath<(OrgId, ProjectId)>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<List<ProjectMemberView>>> {
    let limit = params.limit()?;
    let (_, members) = app
        .list_project_members(
            &session.user,
            &org_id,
            &project_id,
            params.after.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(List::from_page(members, |m| {
        ProjectMemberView::from(&m)
    })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectRoleRequest {
    /// `project_admin` or `project_member`.
    #[schema(example = "project_member")]
    pub role: String,
}

/// Add an organization member to the project, or change their role (org admins and the
/// project's admins).
#[utoipa::path(put, path = "/api/v1/orgs/{org}/projects/{project}/members/{user}", tag = "projects",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID"), ("user" = String, Path, description = "User ID of an organization member")),
    request_body = ProjectRoleRequest,
    responses(
        (status = 200, body = ProjectMemberView),
        (status = 400, description = "The user is an org admin", body = ErrorBody),
        (status = 403, description = "Not an admin of this project", body = ErrorBody),
        (status = 404, description = "Unknown project, or the user is not a member of the organization", body = ErrorBody),
        (status = 409, description = "The project is archived", body = ErrorBody),
        (status = 422, description = "Unknown role", body = ErrorBody),
    ))]
pub async fn set(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, project_id, user_id)): ApiPath<(OrgId, ProjectId, UserId)>,
    ApiJson(body): ApiJson<ProjectRoleRequest>,
) -> ApiResult<Json<ProjectMemberView>> {
    let member = app
        .set_project_member(
            &session.user,
            &org_id,
            &project_id,
            &user_id,
            &body.role,
            &client,
        )
        .await?;
    Ok(Json(ProjectMemberView::from(&member)))
}

/// Remove a member from the project (org admins and the project's admins). A member left with
/// no active project loses access to the organization until given one.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/projects/{project}/members/{user}", tag = "projects",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID"), ("user" = String, Path, description = "User ID")),
    responses(
        (status = 204, description = "Removed"),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn remove(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, project_id, user_id)): ApiPath<(OrgId, ProjectId, UserId)>,
) -> ApiResult<StatusCode> {
    app.remove_project_member(&session.user, &org_id, &project_id, &user_id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

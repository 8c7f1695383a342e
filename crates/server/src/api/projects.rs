//! `GET`/`POST /api/v1/orgs/{org}/projects`, `GET`/`PATCH …/projects/{project}`,
//! `POST …/projects/{project}/archive`.

use crate::api::extract::ApiPath;
use std::sync::Arc;
use tollgate_domain::{OrgId, ProjectId};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use tollgate_domain::ProjectAction;
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery, ApiSession};
use crate::api::pagination::{List, ListParams};
use crate::api::views::ProjectView;
use crate::app::App;
use crate::auth::ClientInfo;

/// The projects the caller can see: all of them for org admins, the assigned ones for others.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects", tag = "projects",
    params(("org" = String, Path, description = "Organization ID"), ListParams),
    responses(
        (status = 200, body = List<ProjectView>),
        (status = 400, description = "Bad `limit` or `after`", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "Unknown, or not the caller's", body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<List<ProjectView>>> {
    let limit = params.limit()?;
    let (_, projects) = app
        .list_projects(&session.user, &org_id, params.after.as_deref(), limit)
        .await?;
    Ok(Json(List::from_page(projects, |p| {
        ProjectView::new(&p.project, p.role)
    })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectNameRequest {
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

/// Create a project (org admins).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/projects", tag = "projects",
    params(("org" = String, Path, description = "Organization ID")),
    request_body = ProjectNameRequest,
    responses(
        (status = 201, body = ProjectView),
        (status = 403, description = "Not an org admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "Empty or over-long name", body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiJson(body): ApiJson<ProjectNameRequest>,
) -> ApiResult<(StatusCode, Json<ProjectView>)> {
    let project = app
        .create_project(&session.user, &org_id, &body.name, &client)
        .await?;
    Ok((StatusCode::CREATED, Json(ProjectView::new(&project, None))))
}

/// Read a project the caller can see.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects/{project}", tag = "projects",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID")),
    responses(
        (status = 200, body = ProjectView),
        (status = 404, description = "Unknown, another organization's, or not assigned to the caller", body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath((org_id, project_id)): ApiPath<(OrgId, ProjectId)>,
) -> ApiResult<Json<ProjectView>> {
    let access = app
        .project_access(&session.user, &org_id, &project_id, ProjectAction::View)
        .await?;
    Ok(Json(ProjectView::new(&access.project, access.role)))
}

/// Rename a project (org admins). Archived projects cannot be renamed.
#[utoipa::path(patch, path = "/api/v1/orgs/{org}/projects/{project}", tag = "projects",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID")),
    request_body = ProjectNameRequest,
    responses(
        (status = 200, body = ProjectView),
        (status = 403, description = "Not an org admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The project is archived", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn rename(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, project_id)): ApiPath<(OrgId, ProjectId)>,
    ApiJson(body): ApiJson<ProjectNameRequest>,
) -> ApiResult<Json<ProjectView>> {
    let project = app
        .rename_project(&session.user, &org_id, &project_id, &body.name, &client)
        .await?;
    Ok(Json(ProjectView::new(&project, None)))
}

/// Archive a project (org admins): its API keys stop working at once. The Default project
/// cannot be archived.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/projects/{project}/archive", tag = "projects",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID")),
    responses(
        (status = 200, body = ProjectView),
        (status = 403, description = "Not an org admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The Default project, or already archived", body = ErrorBody),
    ))]
pub async fn archive(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, project_id)): ApiPath<(OrgId, ProjectId)>,
) -> ApiResult<Json<ProjectView>> {
    let project = app
        .archive_project(&session.user, &org_id, &project_id, &client)
        .await?;
    Ok(Json(ProjectView::new(&project, None)))
}

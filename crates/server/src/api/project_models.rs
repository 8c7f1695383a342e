//! `GET`/`PUT /api/v1/orgs/{org}/projects/{project}/models`: the models a project's keys may
//! call through the gateway (`null`: all of the catalog's).

use crate::api::extract::ApiPath;
use std::sync::Arc;
use tollgate_domain::{OrgId, ProjectId};

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiSession};
use crate::app::App;
use crate::auth::ClientInfo;

#[derive(Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectModels {
    /// Catalog model ids the project's keys may call; `null`: every model.
    pub models: Option<Vec<String>>,
}

/// The models a project's keys may call.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects/{project}/models", tag = "projects",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID")),
    responses(
        (status = 200, body = ProjectModels),
        (status = 404, body = ErrorBody),
    ))]
pub async fn get(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath((org_id, project_id)): ApiPath<(OrgId, ProjectId)>,
) -> ApiResult<Json<ProjectModels>> {
    let models = app
        .project_models(&session.user, &org_id, &project_id)
        .await?;
    Ok(Json(ProjectModels { models }))
}

/// Restrict a project's keys to some models, or (`null`) allow them all (org admins). Keys
/// calling another model get 403 `model_not_allowed`, in every process within a second.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/projects/{project}/models", tag = "projects",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID")),
    request_body = ProjectModels,
    responses(
        (status = 200, body = ProjectModels),
        (status = 400, description = "A model that is not in the catalog", body = ErrorBody),
        (status = 403, description = "Not an org admin", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn set(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, project_id)): ApiPath<(OrgId, ProjectId)>,
    ApiJson(body): ApiJson<ProjectModels>,
) -> ApiResult<Json<ProjectModels>> {
    let models = app
        .set_project_models(&session.user, &org_id, &project_id, body.models, &client)
        .await?;
    Ok(Json(ProjectModels { models }))
}

//! `GET`/`POST …/projects/{project}/api-keys`, `DELETE …/api-keys/{key}`.

use crate::api::extract::ApiPath;
use std::sync::Arc;
use tollgate_domain::{ApiKeyId, OrgId, ProjectId};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery, ApiSession};
use crate::api::pagination::{List, ListParams};
use crate::api::views::ApiKeyView;
use crate::app::App;
use crate::auth::ClientInfo;

/// A project's live keys, masked.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/projects/{project}/api-keys", tag = "api keys",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID"), ListParams),
    responses(
        (status = 200, body = List<ApiKeyView>),
        (status = 404, body = ErrorBody),
    ))]
pub async fn list(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath((org_id, project_id)): ApiPath<(OrgId, ProjectId)>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<List<ApiKeyView>>> {
    let limit = params.limit()?;
    let (_, keys) = app
        .list_api_keys(
            &session.user,
            &org_id,
            &project_id,
            params.after.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(List::from_page(keys, |k| ApiKeyView::from(&k))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

/// The new key; `key` is the full secret, present in this answer only.
#[derive(Serialize, ToSchema)]
pub struct CreatedKeyView {
    #[serde(flatten)]
    pub view: ApiKeyView,
    /// `tg-<public id>-<secret>`: store it now, it is never shown again.
    pub key: String,
}

/// Create a key (everyone assigned to the project, and org admins).
#[utoipa::path(post, path = "/api/v1/orgs/{org}/projects/{project}/api-keys", tag = "api keys",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID")),
    request_body = CreateKeyRequest,
    responses(
        (status = 201, body = CreatedKeyView),
        (status = 403, description = "Refused: a cookie request without a same-origin `Origin`, not allowed in this project (`forbidden`), or the caller's email address is not verified yet (`email_not_verified`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "The project is archived", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, project_id)): ApiPath<(OrgId, ProjectId)>,
    ApiJson(body): ApiJson<CreateKeyRequest>,
) -> ApiResult<(
    StatusCode,
    [(header::HeaderName, &'static str); 1],
    Json<CreatedKeyView>,
)> {
    let created = app
        .create_api_key(&session.user, &org_id, &project_id, &body.name, &client)
        .await?;
    Ok((
        StatusCode::CREATED,
        // The secret must not linger in any cache.
        [(header::CACHE_CONTROL, "no-store")],
        Json(CreatedKeyView {
            view: ApiKeyView::from(&created.key),
            key: created.secret,
        }),
    ))
}

/// Revoke a key (org admins and the project's admins: any key; project members: the keys they
/// created): the next request with it gets 401, in every server process.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/projects/{project}/api-keys/{key}", tag = "api keys",
    params(("org" = String, Path, description = "Organization ID"), ("project" = String, Path, description = "Project ID"), ("key" = String, Path, description = "Key ID")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, description = "A project member revoking a key someone else created", body = ErrorBody),
        (status = 404, description = "No such live key in this project", body = ErrorBody),
    ))]
pub async fn revoke(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, project_id, key_id)): ApiPath<(OrgId, ProjectId, ApiKeyId)>,
) -> ApiResult<StatusCode> {
    app.revoke_api_key(&session.user, &org_id, &project_id, &key_id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

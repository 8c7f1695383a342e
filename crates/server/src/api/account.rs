//! The signed-in user's own account: `PATCH /api/v1/me`, `POST /api/v1/me/password`, and
//! their sessions under `/api/v1/me/sessions` (docs/account-security.md).

use crate::api::extract::ApiPath;
use std::sync::Arc;
use tollgate_domain::SessionId;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiSession};
use crate::api::pagination::List;
use crate::api::views::UserView;
use crate::app::App;
use crate::service::account_security::SessionSummary;
use crate::time::rfc3339;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    /// 1–100 characters. The email cannot be changed here.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct ProfileResponse {
    pub user: UserView,
}

/// Change the signed-in user's name.
#[utoipa::path(patch, path = "/api/v1/me", tag = "auth",
    request_body = ProfileRequest,
    responses(
        (status = 200, description = "Saved", body = ProfileResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 422, description = "Invalid name", body = ErrorBody),
    ))]
pub async fn update_profile(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiJson(body): ApiJson<ProfileRequest>,
) -> ApiResult<Json<ProfileResponse>> {
    let user = app.update_profile(&session.user, &body.name).await?;
    Ok(Json(ProfileResponse {
        user: UserView::from(&user),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeRequest {
    #[schema(max_length = 1024)]
    pub current_password: String,
    /// 8–1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub new_password: String,
}

#[derive(Serialize, ToSchema)]
pub struct PasswordChanged {
    /// How many other sessions were signed out.
    pub sessions_ended: u64,
}

/// Change the password. Every other session of the user is signed out; this one stays.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth",
    request_body = PasswordChangeRequest,
    responses(
        (status = 200, description = "Changed", body = PasswordChanged),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "The current password is wrong (`wrong_password`)", body = ErrorBody),
        (status = 422, description = "The new password is too short or too long", body = ErrorBody),
        (status = 429, description = "Too many wrong current passwords", body = ErrorBody),
        (status = 503, description = "Too many passwords being hashed; try again (`busy`)", body = ErrorBody),
    ))]
pub async fn change_password(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiJson(body): ApiJson<PasswordChangeRequest>,
) -> ApiResult<Json<PasswordChanged>> {
    let sessions_ended = app
        .change_password(&session, &body.current_password, &body.new_password)
        .await?;
    Ok(Json(PasswordChanged { sessions_ended }))
}

/// A signed-in session of the user.
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    #[schema(example = "ses_4f1c2a9e0b7d3c5a1e2f4b6d")]
    pub id: String,
    /// From the User-Agent the session started with, e.g. "Firefox on Linux".
    pub device: String,
    /// The address the session started from.
    pub ip: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC; updated at most once a minute.
    pub last_seen_at: String,
    /// True for the session making this request.
    pub current: bool,
}

impl From<SessionSummary> for SessionView {
    fn from(s: SessionSummary) -> Self {
        Self {
            id: s.id.into_string(),
            device: s.device,
            ip: s.ip,
            created_at: rfc3339(s.created_at),
            last_seen_at: rfc3339(s.last_seen_at),
            current: s.current,
        }
    }
}

/// The user's active sessions, most recently used first (at most 100).
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "auth",
    responses(
        (status = 200, body = List<SessionView>),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn list_sessions(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
) -> ApiResult<Json<List<SessionView>>> {
    let page = app.list_sessions(&session).await?;
    Ok(Json(List::from_page(page, SessionView::from)))
}

/// Sign out one of the user's sessions (the current one too).
#[utoipa::path(delete, path = "/api/v1/me/sessions/{session}", tag = "auth",
    params(("session" = String, Path, description = "Session ID")),
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such session of yours", body = ErrorBody),
    ))]
pub async fn sign_out_session(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(session_id): ApiPath<SessionId>,
) -> ApiResult<StatusCode> {
    app.sign_out_session(&session, &session_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct SessionsEnded {
    pub sessions_ended: u64,
}

/// Sign out every session of the user but this one.
#[utoipa::path(post, path = "/api/v1/me/sessions/sign-out-others", tag = "auth",
    responses(
        (status = 200, body = SessionsEnded),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn sign_out_other_sessions(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
) -> ApiResult<Json<SessionsEnded>> {
    let sessions_ended = app.sign_out_other_sessions(&session).await?;
    Ok(Json(SessionsEnded { sessions_ended }))
}

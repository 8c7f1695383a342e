//! `POST /api/v1/auth/signup`, `/auth/login`, `/auth/logout`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_domain::OrgRole;
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::ApiJson;
use crate::api::views::{OrgView, UserView};
use crate::app::App;
use crate::auth::session::cookie;
use crate::auth::{ClientInfo, SESSION_COOKIE};
use crate::service::accounts::SignupInput;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// 8–1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
    /// 1–100 characters.
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct SignupResponse {
    pub user: UserView,
    /// The new personal organization, where the user is Organization Admin.
    pub organization: OrgView,
}

/// Create an account and its personal organization, and sign in.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Signed up; the session cookie is set", body = SignupResponse),
        (status = 409, description = "The email is taken", body = ErrorBody),
        (status = 422, description = "Invalid email, name or password", body = ErrorBody),
        (status = 429, description = "Too many sign-ups from this address", body = ErrorBody),
        (status = 503, description = "Too many passwords being hashed; try again (`busy`)", body = ErrorBody),
    ))]
pub async fn signup(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    ApiJson(body): ApiJson<SignupRequest>,
) -> ApiResult<Response> {
    let (signed_in, org) = app
        .sign_up(
            SignupInput {
                email: &body.email,
                password: &body.password,
                name: &body.name,
                send_verification: true,
            },
            &client,
        )
        .await?;
    let body = SignupResponse {
        user: UserView::from(&signed_in.user),
        organization: OrgView::new(&org, OrgRole::OrgAdmin),
    };
    Ok((
        StatusCode::CREATED,
        [(
            header::SET_COOKIE,
            app.session_cookie(&signed_in.session_token, &client),
        )],
        Json(body),
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// For accounts with two-factor sign-in: the 6-digit code from the authenticator app, or
    /// one of the recovery codes. Without it such an account answers 401 `totp_required`.
    #[schema(max_length = 64)]
    pub totp_code: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    pub user: UserView,
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = LoginResponse),
        (status = 401, description = "Incorrect email or password (`invalid_credentials`, the same answer for both); the account needs its second factor (`totp_required`); the code is wrong or used (`totp_invalid`)", body = ErrorBody),
        (status = 429, description = "Too many failed attempts for this email or from this address", body = ErrorBody),
        (status = 503, description = "Too many passwords being checked; try again (`busy`)", body = ErrorBody),
    ))]
pub async fn login(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let signed_in = app
        .log_in(
            &body.email,
            &body.password,
            body.totp_code.as_deref(),
            &client,
        )
        .await?;
    Ok((
        [(
            header::SET_COOKIE,
            app.session_cookie(&signed_in.session_token, &client),
        )],
        Json(LoginResponse {
            user: UserView::from(&signed_in.user),
        }),
    )
        .into_response())
}

/// End the current session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out; the session no longer works")))]
pub async fn logout(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        app.log_out(token).await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, app.clear_session_cookie(&client))],
    )
        .into_response())
}

//! `POST /api/v1/auth/forgot-password` and `/auth/reset-password` (docs/account-security.md).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::ApiJson;
use crate::app::App;
use crate::auth::ClientInfo;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPasswordRequest {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
}

#[derive(Serialize, ToSchema)]
pub struct ForgotPasswordResponse {
    /// The same whether or not the email has an account.
    pub message: &'static str,
}

pub const RESET_SENT: &str =
    "If an account uses this email, a link to reset its password is on its way. It works once, for one hour.";

/// Email a password reset link. The answer does not say whether the email has an account.
#[utoipa::path(post, path = "/api/v1/auth/forgot-password", tag = "auth",
    request_body = ForgotPasswordRequest,
    responses(
        (status = 202, description = "Accepted (the same answer for unknown emails)", body = ForgotPasswordResponse),
        (status = 422, description = "Not an email address", body = ErrorBody),
        (status = 429, description = "Too many requests for this email or from this address", body = ErrorBody),
    ))]
pub async fn forgot_password(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    ApiJson(body): ApiJson<ForgotPasswordRequest>,
) -> ApiResult<(StatusCode, Json<ForgotPasswordResponse>)> {
    app.request_password_reset(&body.email, &client).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ForgotPasswordResponse {
            message: RESET_SENT,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPasswordRequest {
    /// The token of the emailed `/reset-password/{token}` link.
    #[schema(min_length = 64, max_length = 64)]
    pub token: String,
    /// 8–1024 characters.
    #[schema(min_length = 8, max_length = 1024)]
    pub password: String,
}

/// Set a new password with an emailed link. Every session of the user is signed out.
#[utoipa::path(post, path = "/api/v1/auth/reset-password", tag = "auth",
    request_body = ResetPasswordRequest,
    responses(
        (status = 204, description = "Password set; sign in with it"),
        (status = 410, description = "The link is unknown, expired or used (`reset_link_invalid`)", body = ErrorBody),
        (status = 422, description = "The new password is too short or too long", body = ErrorBody),
        (status = 429, description = "Too many bad links from this address", body = ErrorBody),
        (status = 503, description = "Too many passwords being hashed; try again (`busy`)", body = ErrorBody),
    ))]
pub async fn reset_password(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    ApiJson(body): ApiJson<ResetPasswordRequest>,
) -> ApiResult<StatusCode> {
    app.reset_password(&body.token, &body.password, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

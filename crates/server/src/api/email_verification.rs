//! `POST /api/v1/auth/verify-email` and `POST /api/v1/me/verify-email/resend`
//! (docs/account-security.md).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiSession};
use crate::api::views::UserView;
use crate::app::App;
use crate::auth::ClientInfo;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The token of the emailed `/verify-email/{token}` link.
    #[schema(min_length = 64, max_length = 64)]
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyEmailResponse {
    pub user: UserView,
}

/// Verify an email address with the emailed link's token (no session needed).
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth",
    request_body = VerifyEmailRequest,
    responses(
        (status = 200, description = "Verified", body = VerifyEmailResponse),
        (status = 410, description = "The link is unknown, expired or used (`verification_link_invalid`)", body = ErrorBody),
        (status = 429, description = "Too many bad links from this address", body = ErrorBody),
    ))]
pub async fn verify_email(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    ApiJson(body): ApiJson<VerifyEmailRequest>,
) -> ApiResult<Json<VerifyEmailResponse>> {
    let user = app.verify_email(&body.token, &client).await?;
    Ok(Json(VerifyEmailResponse {
        user: UserView::from(&user),
    }))
}

/// Email the verification link again.
#[utoipa::path(post, path = "/api/v1/me/verify-email/resend", tag = "auth",
    responses(
        (status = 202, description = "A new link is on its way"),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 409, description = "Already verified (`email_already_verified`)", body = ErrorBody),
        (status = 429, description = "Asked too often (5 an hour)", body = ErrorBody),
    ))]
pub async fn resend(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
) -> ApiResult<StatusCode> {
    app.resend_verification_email(&session.user, &client)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

//! Two-factor sign-in of the signed-in user: `POST /api/v1/me/totp` (start),
//! `POST /api/v1/me/totp/confirm` (enable), `DELETE /api/v1/me/totp` (turn off)
//! (docs/account-security.md, decision 0023).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiSession};
use crate::app::App;

#[derive(Serialize, ToSchema)]
pub struct TotpStarted {
    /// Base32 secret, for typing into an authenticator app. Not shown again once enabled.
    pub secret: String,
    /// `otpauth://totp/…`, what the QR code holds.
    pub otpauth_uri: String,
}

/// Start setting up two-factor sign-in: a new secret (replacing an unconfirmed one).
#[utoipa::path(post, path = "/api/v1/me/totp", tag = "auth",
    responses(
        (status = 200, description = "Started; confirm with a code", body = TotpStarted),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 409, description = "Already on (`totp_enabled`)", body = ErrorBody),
    ))]
pub async fn start(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
) -> ApiResult<Json<TotpStarted>> {
    let started = app.start_totp(&session.user).await?;
    Ok(Json(TotpStarted {
        secret: started.secret,
        otpauth_uri: started.otpauth_uri,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirmRequest {
    /// The 6-digit code the app shows now.
    #[schema(max_length = 64)]
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnabled {
    /// Ten single-use recovery codes; shown this once only.
    pub recovery_codes: Vec<String>,
}

/// Turn two-factor sign-in on with a first code from the app.
#[utoipa::path(post, path = "/api/v1/me/totp/confirm", tag = "auth",
    request_body = TotpConfirmRequest,
    responses(
        (status = 200, description = "On; the recovery codes are shown once", body = TotpEnabled),
        (status = 401, description = "Not signed in, or the code is wrong (`totp_invalid`)", body = ErrorBody),
        (status = 409, description = "Not started (`totp_not_started`) or already on (`totp_enabled`)", body = ErrorBody),
        (status = 429, description = "Too many wrong codes", body = ErrorBody),
    ))]
pub async fn confirm(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiJson(body): ApiJson<TotpConfirmRequest>,
) -> ApiResult<Json<TotpEnabled>> {
    let recovery_codes = app.confirm_totp(&session.user, &body.code).await?;
    Ok(Json(TotpEnabled { recovery_codes }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpDisableRequest {
    #[schema(max_length = 1024)]
    pub password: String,
    /// A current code from the app, or a recovery code.
    #[schema(max_length = 64)]
    pub code: String,
}

/// Turn two-factor sign-in off (needs the password and a current code).
#[utoipa::path(delete, path = "/api/v1/me/totp", tag = "auth",
    request_body = TotpDisableRequest,
    responses(
        (status = 204, description = "Off; the secret and recovery codes are forgotten"),
        (status = 401, description = "Not signed in, or the code is wrong (`totp_invalid`)", body = ErrorBody),
        (status = 403, description = "The password is wrong (`wrong_password`)", body = ErrorBody),
        (status = 409, description = "Not on (`totp_not_enabled`)", body = ErrorBody),
        (status = 429, description = "Too many wrong passwords or codes", body = ErrorBody),
        (status = 503, description = "Too many passwords being checked; try again (`busy`)", body = ErrorBody),
    ))]
pub async fn disable(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiJson(body): ApiJson<TotpDisableRequest>,
) -> ApiResult<StatusCode> {
    app.disable_totp(&session, &body.password, &body.code)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

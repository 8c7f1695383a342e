//! `GET /api/v1/me`.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::ApiSession;
use crate::api::views::{OrgView, UserView};
use crate::app::App;

#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub user: UserView,
    /// Every organization the user belongs to, with their role in it.
    pub organizations: Vec<OrgView>,
    /// Whether the user signs in with a second factor (TOTP). Organizations with
    /// `require_2fa` refuse members without it (`two_factor_required`).
    pub totp_enabled: bool,
}

/// The signed-in user and their organizations.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses(
        (status = 200, body = MeResponse),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ))]
pub async fn me(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
) -> ApiResult<Json<MeResponse>> {
    let memberships = app.store.memberships(&session.user.id).await?;
    let totp_enabled = app.store.totp_enabled(&session.user.id).await?;
    Ok(Json(MeResponse {
        user: UserView::from(&session.user),
        organizations: memberships.iter().map(OrgView::from).collect(),
        totp_enabled,
    }))
}

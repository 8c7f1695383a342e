//! Invitations: `POST`/`GET /api/v1/orgs/{org}/invites`, `POST …/invites/{id}/resend`,
//! `DELETE …/invites/{id}` (org admins); `GET /api/v1/invites/{token}`, `POST …/{token}/accept`,
//! `POST …/{token}/reject` (the invitee).

use crate::api::extract::ApiPath;
use std::sync::Arc;
use tollgate_domain::{InviteId, OrgId, ProjectId};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_store::Invitation;
use utoipa::ToSchema;

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery, ApiSession};
use crate::api::pagination::{List, ListParams};
use crate::app::App;
use crate::auth::ClientInfo;
use crate::service::invites::{InviteFailure, InviteRequest};
use crate::time::rfc3339;

#[derive(Serialize, ToSchema)]
pub struct InviteView {
    #[schema(example = "inv_4f1c2a9e0b7d3c5a1e2f4b6d")]
    pub id: String,
    pub email: String,
    /// `org_admin`, `project_admin` or `project_member`.
    pub role: &'static str,
    pub project_ids: Vec<String>,
    /// `pending`, `expired`, `accepted`, `rejected` or `revoked`.
    pub status: &'static str,
    pub invited_by: Option<String>,
    pub created_at: String,
    pub sent_at: String,
    pub expires_at: String,
}

impl InviteView {
    fn new(i: Invitation, now: i64) -> Self {
        Self {
            status: i.status.shown(i.expires_at, now),
            role: i.role.as_str(),
            id: i.id.into_string(),
            email: i.email,
            project_ids: i
                .project_ids
                .into_iter()
                .map(ProjectId::into_string)
                .collect(),
            invited_by: i.inviter_email,
            created_at: rfc3339(i.created_at),
            sent_at: rfc3339(i.sent_at),
            expires_at: rfc3339(i.expires_at),
        }
    }
}

/// `emails` as a list, or as one string of addresses separated by commas, spaces or newlines.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Emails {
    List(Vec<String>),
    Text(String),
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitesRequest {
    /// Up to 50 addresses.
    pub emails: Emails,
    /// `org_admin`, `project_admin` or `project_member`.
    pub role: String,
    /// Required (≥ 1) for project roles; empty for `org_admin`.
    #[serde(default)]
    pub project_ids: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InviteErrorView {
    pub email: String,
    /// `invalid_email`, `already_member` or `already_invited`.
    pub code: &'static str,
    pub message: String,
}

impl From<InviteFailure> for InviteErrorView {
    fn from(f: InviteFailure) -> Self {
        Self {
            email: f.email,
            code: f.code,
            message: f.message,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct CreateInvitesResponse {
    /// The invitations created (and emailed).
    pub data: Vec<InviteView>,
    /// The addresses that were not invited, each with its reason.
    pub errors: Vec<InviteErrorView>,
}

/// Invite one or more addresses with one role. Each address succeeds or fails on its own.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/invites", tag = "invitations",
    params(("org" = String, Path)),
    request_body = CreateInvitesRequest,
    responses(
        (status = 201, body = CreateInvitesResponse),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 422, description = "No addresses, more than 50, unknown role, project rules", body = ErrorBody),
        (status = 429, description = "The organization's hourly invitation emails are used up", body = ErrorBody),
    ))]
pub async fn create(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiJson(body): ApiJson<CreateInvitesRequest>,
) -> ApiResult<(StatusCode, Json<CreateInvitesResponse>)> {
    let emails = match body.emails {
        Emails::List(list) => list,
        Emails::Text(text) => vec![text],
    };
    let outcome = app
        .invite(
            &session.user,
            &org_id,
            InviteRequest {
                emails: &emails,
                role: &body.role,
                project_ids: &body.project_ids,
            },
            &client,
        )
        .await?;
    let now = app.now();
    Ok((
        StatusCode::CREATED,
        Json(CreateInvitesResponse {
            data: outcome
                .created
                .into_iter()
                .map(|i| InviteView::new(i, now))
                .collect(),
            errors: outcome
                .errors
                .into_iter()
                .map(InviteErrorView::from)
                .collect(),
        }),
    ))
}

/// Pending (expired ones marked) and rejected invitations of the last 30 days, newest first.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/invites", tag = "invitations",
    params(("org" = String, Path), ListParams),
    responses((status = 200, body = List<InviteView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<List<InviteView>>> {
    let page = app
        .list_invitations(
            &session.user,
            &org_id,
            params.after.as_deref(),
            params.limit()?,
        )
        .await?;
    let now = app.now();
    Ok(Json(List::from_page(page, |i| InviteView::new(i, now))))
}

/// Send a pending or expired invitation again: a new link (the old one stops working), a new
/// expiry, a new email.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/invites/{id}/resend", tag = "invitations",
    params(("org" = String, Path), ("id" = String, Path, description = "Invitation ID")),
    responses(
        (status = 200, body = InviteView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not pending", body = ErrorBody),
        (status = 429, body = ErrorBody),
    ))]
pub async fn resend(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, id)): ApiPath<(OrgId, InviteId)>,
) -> ApiResult<Json<InviteView>> {
    let invitation = app
        .resend_invitation(&session.user, &org_id, &id, &client)
        .await?;
    Ok(Json(InviteView::new(invitation, app.now())))
}

/// Revoke a pending invitation: its link stops working.
#[utoipa::path(delete, path = "/api/v1/orgs/{org}/invites/{id}", tag = "invitations",
    params(("org" = String, Path), ("id" = String, Path, description = "Invitation ID")),
    responses(
        (status = 200, body = InviteView),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Not pending", body = ErrorBody),
    ))]
pub async fn revoke(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath((org_id, id)): ApiPath<(OrgId, InviteId)>,
) -> ApiResult<Json<InviteView>> {
    let invitation = app
        .revoke_invitation(&session.user, &org_id, &id, &client)
        .await?;
    let mut view = InviteView::new(invitation, app.now());
    view.status = "revoked";
    Ok(Json(view))
}

#[derive(Serialize, ToSchema)]
pub struct InvitationDetails {
    pub organization: InvitedOrg,
    pub invited_by: Option<Inviter>,
    pub email: String,
    pub role: &'static str,
    /// `pending`, `expired`, `accepted`, `rejected` or `revoked`.
    pub status: &'static str,
    pub expires_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct InvitedOrg {
    pub id: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct Inviter {
    pub name: Option<String>,
    pub email: String,
}

fn details(i: Invitation, now: i64) -> InvitationDetails {
    InvitationDetails {
        status: i.status.shown(i.expires_at, now),
        role: i.role.as_str(),
        invited_by: i.inviter_email.map(|email| Inviter {
            name: i.inviter_name,
            email,
        }),
        organization: InvitedOrg {
            id: i.org_id.into_string(),
            name: i.org_name,
        },
        email: i.email,
        expires_at: rfc3339(i.expires_at),
    }
}

/// What an invitation link offers: the organization, who invited, the role, its state.
#[utoipa::path(get, path = "/api/v1/invites/{token}", tag = "invitations",
    params(("token" = String, Path, description = "The token from the invitation link")),
    responses((status = 200, body = InvitationDetails), (status = 404, description = "Unknown, or replaced by a resend", body = ErrorBody)))]
pub async fn show(
    State(app): State<Arc<App>>,
    Path(token): Path<String>,
) -> ApiResult<Json<InvitationDetails>> {
    let invitation = app.invitation_by_token(&token).await?;
    Ok(Json(details(invitation, app.now())))
}

/// Accept an invitation sent to the signed-in user's email: the membership is created.
#[utoipa::path(post, path = "/api/v1/invites/{token}/accept", tag = "invitations",
    params(("token" = String, Path)),
    responses(
        (status = 200, body = InvitationDetails),
        (status = 401, body = ErrorBody),
        (status = 403, description = "Sent to another email address", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already accepted or rejected, or already a member", body = ErrorBody),
        (status = 410, description = "Expired or revoked", body = ErrorBody),
    ))]
pub async fn accept(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    Path(token): Path<String>,
) -> ApiResult<Json<InvitationDetails>> {
    let invitation = app
        .accept_invitation(&session.user, &token, &client)
        .await?;
    Ok(Json(details(invitation, app.now())))
}

/// Decline an invitation sent to the signed-in user's email.
#[utoipa::path(post, path = "/api/v1/invites/{token}/reject", tag = "invitations",
    params(("token" = String, Path)),
    responses(
        (status = 200, body = InvitationDetails),
        (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody),
        (status = 410, body = ErrorBody),
    ))]
pub async fn reject(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    Path(token): Path<String>,
) -> ApiResult<Json<InvitationDetails>> {
    let invitation = app
        .reject_invitation(&session.user, &token, &client)
        .await?;
    Ok(Json(details(invitation, app.now())))
}

//! Invitations in the console: New Invite, resend and revoke on the Members page, and the
//! invitee's page behind the emailed link.

use crate::console::PagePath;
use std::sync::Arc;
use tollgate_domain::{InviteId, OrgId};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;
use tollgate_store::Invitation;

use crate::app::App;
use crate::auth::ClientInfo;
use crate::console::form_guard::{CheckedForm, CsrfForm};
use crate::console::member_pages::{
    after_member_change, render_members, InviteError, InviteValues, MembersExtras,
};
use crate::console::page::public_page;
use crate::console::service_error_page;
use crate::console::{urlencode, AnonCsrf, PageSession};
use crate::service::invites::InviteRequest;
use crate::service::ServiceError;

/// `POST /o/{org}/invites` from the New Invite dialog. The form repeats `project_ids`.
pub async fn create(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath(org_id): PagePath<OrgId>,
    CheckedForm {
        session,
        form: fields,
    }: CheckedForm<Vec<(String, String)>>,
) -> Response {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let emails = vec![field("emails")];
    let role = field("role");
    let project_ids: Vec<String> = fields
        .iter()
        .filter(|(k, _)| k == "project_ids")
        .map(|(_, v)| v.clone())
        .collect();
    let request = InviteRequest {
        emails: &emails,
        role: &role,
        project_ids: &project_ids,
    };
    match app.invite(&session.user, &org_id, request, &client).await {
        Ok(outcome) if outcome.errors.is_empty() => Redirect::to(&format!(
            "/o/{}/members?notice=invited#invites",
            urlencode(&org_id)
        ))
        .into_response(),
        Ok(outcome) => {
            let sent = outcome.created.len();
            let extras = MembersExtras {
                notice: (sent > 0).then_some("Invitations sent to the other addresses."),
                invite_errors: outcome
                    .errors
                    .iter()
                    .map(|e| InviteError {
                        email: e.email.clone(),
                        message: e.message.clone(),
                    })
                    .collect(),
                invite_values: Some(InviteValues {
                    role,
                    ..InviteValues::default()
                }),
                ..MembersExtras::default()
            };
            render_members(&app, &session, &org_id, None, None, StatusCode::OK, extras).await
        }
        Err(e @ (ServiceError::Invalid(_) | ServiceError::TooManyRequests { .. })) => {
            // The dialog opens again with what was typed and the message in the user's words
            // (not prefixed with the form field's name).
            let message = match &e {
                ServiceError::Invalid(v) => v.message.clone(),
                other => other.public_message(),
            };
            let extras = MembersExtras {
                invite_error: Some(message),
                invite_values: Some(InviteValues {
                    emails: emails.into_iter().next(),
                    role,
                    project_ids: Some(project_ids),
                }),
                ..MembersExtras::default()
            };
            render_members(&app, &session, &org_id, None, None, e.status(), extras).await
        }
        Err(e) => service_error_page(&app, e),
    }
}

pub async fn resend(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, id)): PagePath<(OrgId, InviteId)>,
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
) -> Response {
    let done = app
        .resend_invitation(&session.user, &org_id, &id, &client)
        .await;
    after_member_change(&app, &session, &org_id, done.map(|_| "resent")).await
}

pub async fn revoke(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, id)): PagePath<(OrgId, InviteId)>,
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
) -> Response {
    let done = app
        .revoke_invitation(&session.user, &org_id, &id, &client)
        .await;
    after_member_change(&app, &session, &org_id, done.map(|_| "revoked")).await
}

/// `invite.html`: the invitation behind a link, and what this visitor can do with it
/// (`state`); only `state` when the link leads nowhere.
#[derive(Serialize)]
struct InvitePage<'a> {
    state: &'static str,
    #[serde(flatten)]
    invitation: Option<InvitationView<'a>>,
}

#[derive(Serialize)]
struct InvitationView<'a> {
    org_name: String,
    inviter: String,
    role_label: &'static str,
    email: String,
    signed_in_email: Option<&'a str>,
    token: &'a str,
    next: String,
}

/// The page state for an invitation that can no longer be used, if it cannot.
fn closed_state(invitation: &Invitation, now: i64) -> Option<&'static str> {
    match invitation.status.shown(invitation.expires_at, now) {
        "pending" => None,
        other => Some(other),
    }
}

/// `GET /invites/{token}`: what the link offers, and what this visitor can do with it.
pub async fn show(
    State(app): State<Arc<App>>,
    session: Option<PageSession>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Response {
    let anon = AnonCsrf::from_headers(&headers);
    let csrf_secret = session
        .as_ref()
        .map_or(anon.secret.clone(), |PageSession(s)| s.token.clone());
    let invitation = match app.invitation_by_token(&token).await {
        Ok(i) => i,
        Err(ServiceError::NotFound(_)) => {
            let page = InvitePage {
                state: "not_found",
                invitation: None,
            };
            return anon.attach(public_page(
                &app,
                "invite.html",
                StatusCode::NOT_FOUND,
                &csrf_secret,
                &page,
            ));
        }
        Err(e) => return service_error_page(&app, e),
    };
    let state = match (closed_state(&invitation, app.now()), &session) {
        (Some(closed), _) => closed,
        (None, Some(PageSession(s))) if s.user.email == invitation.email => "valid",
        (None, Some(_)) => "other_email",
        (None, None) => {
            let email = tollgate_domain::Email::parse(&invitation.email);
            match email {
                Ok(e) => match app.store.user_by_email(&e).await {
                    Ok(Some(_)) => "needs_login",
                    Ok(None) => "needs_signup",
                    Err(e) => return service_error_page(&app, e.into()),
                },
                Err(_) => "needs_signup",
            }
        }
    };
    let status = match state {
        "expired" | "revoked" => StatusCode::GONE,
        "accepted" | "rejected" => StatusCode::CONFLICT,
        _ => StatusCode::OK,
    };
    let page = InvitePage {
        state,
        invitation: Some(InvitationView {
            next: format!("/invites/{token}"),
            org_name: invitation.org_name,
            inviter: invitation
                .inviter_name
                .or(invitation.inviter_email)
                .unwrap_or_else(|| "An admin".to_owned()),
            role_label: invitation.role.label(),
            email: invitation.email,
            signed_in_email: session.as_ref().map(|PageSession(s)| s.user.email.as_str()),
            token: &token,
        }),
    };
    anon.attach(public_page(
        &app,
        "invite.html",
        status,
        &csrf_secret,
        &page,
    ))
}

pub async fn accept(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    Path(token): Path<String>,
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
) -> Response {
    match app.accept_invitation(&session.user, &token, &client).await {
        Ok(invitation) => Redirect::to(&format!(
            "/o/{}?notice=joined",
            urlencode(&invitation.org_id)
        ))
        .into_response(),
        Err(ServiceError::Internal(e)) => service_error_page(&app, ServiceError::Internal(e)),
        // Every other refusal is explained by the invitation's own page.
        Err(_) => Redirect::to(&format!("/invites/{token}")).into_response(),
    }
}

pub async fn reject(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    Path(token): Path<String>,
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
) -> Response {
    match app.reject_invitation(&session.user, &token, &client).await {
        Err(ServiceError::Internal(e)) => service_error_page(&app, ServiceError::Internal(e)),
        _ => Redirect::to(&format!("/invites/{token}")).into_response(),
    }
}

//! The Members page (members and invitations) and the Audit log page, for org admins.

use crate::console::PagePath;
use std::sync::Arc;
use tollgate_domain::{OrgId, UserId};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tollgate_domain::invite::InviteRole;
use tollgate_domain::OrgAction;

use crate::app::App;
use crate::auth::{ClientInfo, CurrentSession};
use crate::console::contexts::ProjectOption;
use crate::console::form_guard::{csrf_field, CheckedForm, CsrfForm};
use crate::console::page::Section;
use crate::console::{urlencode, PageSession};
use crate::service::ServiceError;
pub(crate) use crate::time::day;

use crate::console::page::org_page;
use crate::console::service_error_page;
use crate::time::minute;

#[derive(Deserialize)]
pub struct MembersQuery {
    q: Option<String>,
    after: Option<String>,
    notice: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "role" => Some("Role updated."),
        "removed" => Some("Member removed."),
        "invited" => Some("Invitations sent."),
        "resent" => Some("Invitation sent again with a new link."),
        "revoked" => Some("Invitation revoked."),
        _ => None,
    }
}

/// Extra values for the Members page: a notice, or the outcome of a New Invite submission.
#[derive(Default)]
pub(crate) struct MembersExtras {
    pub notice: Option<&'static str>,
    pub error: Option<String>,
    /// Why the New Invite form was refused: shown in the dialog, which opens again.
    pub invite_error: Option<String>,
    pub invite_errors: Vec<InviteError>,
    pub invite_values: Option<InviteValues>,
}

/// An address the New Invite form could not invite, and why.
#[derive(Serialize)]
pub(crate) struct InviteError {
    pub email: String,
    pub message: String,
}

/// The New Invite form's values, drawn again when it is refused.
#[derive(Default, Serialize)]
pub(crate) struct InviteValues {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub emails: Option<String>,
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_ids: Option<Vec<String>>,
}

/// `members.html`.
#[derive(Serialize)]
struct MembersPage<'a> {
    members: Vec<MemberRow<'a>>,
    q: Option<&'a str>,
    has_more: bool,
    next_after: Option<&'a str>,
    paged: bool,
    invites: Vec<InviteRow<'a>>,
    invite_roles: Vec<RoleOption>,
    invite_errors: Vec<InviteError>,
    invite_values: Option<InviteValues>,
    invite_open: bool,
    invite_error: Option<String>,
    projects: Vec<ProjectOption<'a>>,
    notice: Option<&'static str>,
    error: Option<String>,
}

#[derive(Serialize)]
struct MemberRow<'a> {
    id: &'a str,
    name: &'a str,
    email: &'a str,
    role: &'static str,
    joined: String,
    /// Names of the projects a project role is assigned in.
    projects: Vec<&'a str>,
    totp_enabled: bool,
    removable: bool,
}

#[derive(Serialize)]
struct InviteRow<'a> {
    id: &'a str,
    email: &'a str,
    role: &'static str,
    role_label: &'static str,
    status: &'static str,
    sent: String,
    expires: String,
}

/// A role the New Invite dialog offers.
#[derive(Serialize)]
struct RoleOption {
    value: &'static str,
    label: &'static str,
}

/// `audit_log.html`.
#[derive(Serialize)]
struct AuditLogPage {
    entries: Vec<AuditRow>,
    has_more: bool,
    next_after: Option<String>,
    paged: bool,
}

#[derive(Serialize)]
struct AuditRow {
    id: i64,
    actor: Option<String>,
    action: String,
    target: String,
    details: String,
    ip: Option<String>,
    time: String,
}

pub(crate) async fn render_members(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
    q: Option<&str>,
    after: Option<&str>,
    status: StatusCode,
    extras: MembersExtras,
) -> Response {
    let org = match app
        .org_access_for(&session.user, org_id, OrgAction::ManageMembers)
        .await
    {
        Ok(m) => m,
        Err(e) => return service_error_page(app, e),
    };
    let page = match app.list_members(&session.user, org_id, q, after, 50).await {
        Ok(p) => p,
        Err(e) => return service_error_page(app, e),
    };
    let invites = match app.list_invitations(&session.user, org_id, None, 100).await {
        Ok(p) => p.data,
        Err(e) => return service_error_page(app, e),
    };
    let ids: Vec<UserId> = page.data.iter().map(|m| m.user_id.clone()).collect();
    let assigned = match app.store.assigned_project_names(org_id, &ids).await {
        Ok(a) => a,
        Err(e) => return service_error_page(app, e.into()),
    };
    // Active projects, offered to project roles in the invitation dialog.
    let projects = match app.list_projects(&session.user, org_id, None, 100).await {
        Ok((_, p)) => p.data,
        Err(e) => return service_error_page(app, e),
    };
    let projects = ProjectOption::active(&projects);
    // The sole Organization Admin cannot be removed: no Remove button on them.
    let sole_admin = match app.store.org_admin_count(org_id).await {
        Ok(n) => n <= 1,
        Err(e) => return service_error_page(app, e.into()),
    };
    let now = app.now();
    let members = page
        .data
        .iter()
        .map(|m| MemberRow {
            id: &m.user_id,
            name: &m.name,
            email: &m.email,
            role: m.role.as_str(),
            joined: day(m.joined_at),
            projects: assigned
                .iter()
                .filter(|(user, _)| *user == m.user_id)
                .map(|(_, name)| name.as_str())
                .collect(),
            totp_enabled: m.totp_enabled,
            removable: !(sole_admin && m.role.is_admin()),
        })
        .collect();
    let invites = invites
        .iter()
        .map(|i| InviteRow {
            id: &i.id,
            email: &i.email,
            role: i.role.as_str(),
            role_label: i.role.label(),
            status: i.status.shown(i.expires_at, now),
            sent: day(i.sent_at),
            expires: day(i.expires_at),
        })
        .collect();
    let invite_roles = InviteRole::ALL
        .iter()
        .map(|r| RoleOption {
            value: r.as_str(),
            label: r.label(),
        })
        .collect();
    let ctx = MembersPage {
        members,
        q,
        has_more: page.has_more,
        next_after: page.data.last().map(|m| m.user_id.as_str()),
        paged: after.is_some(),
        invites,
        invite_roles,
        invite_errors: extras.invite_errors,
        invite_values: extras.invite_values,
        invite_open: extras.invite_error.is_some(),
        invite_error: extras.invite_error,
        projects,
        notice: extras.notice,
        error: extras.error,
    };
    org_page(
        app,
        session,
        &org,
        Section::Members,
        "members.html",
        status,
        &ctx,
    )
    .await
}

pub async fn members(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    PagePath(org_id): PagePath<OrgId>,
    Query(q): Query<MembersQuery>,
) -> Response {
    let extras = MembersExtras {
        notice: notice_text(q.notice.as_deref()),
        ..MembersExtras::default()
    };
    render_members(
        &app,
        &session,
        &org_id,
        q.q.as_deref(),
        q.after.as_deref(),
        StatusCode::OK,
        extras,
    )
    .await
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    role: String,
}

pub async fn change_role(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, user_id)): PagePath<(OrgId, UserId)>,
    CheckedForm { session, form }: CheckedForm<RoleForm>,
) -> Response {
    let done = app
        .change_member_role(&session.user, &org_id, &user_id, &form.role, &client)
        .await;
    after_member_change(&app, &session, &org_id, done.map(|_| "role")).await
}

csrf_field!(RoleForm);

pub async fn remove(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, user_id)): PagePath<(OrgId, UserId)>,
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
) -> Response {
    let done = app
        .remove_member(&session.user, &org_id, &user_id, &client)
        .await;
    if done.is_ok() && user_id == session.user.id {
        // Leaving the organization: its pages are no longer ours.
        return Redirect::to("/").into_response();
    }
    after_member_change(&app, &session, &org_id, done.map(|_| "removed")).await
}

/// Back to the Members page with a notice, or the page again with the error shown.
pub(crate) async fn after_member_change(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
    outcome: Result<&'static str, ServiceError>,
) -> Response {
    match outcome {
        Ok(notice) => Redirect::to(&format!("/o/{}/members?notice={notice}", urlencode(org_id)))
            .into_response(),
        Err(
            e @ (ServiceError::Conflict { .. }
            | ServiceError::Invalid(_)
            | ServiceError::BadRequest { .. }
            | ServiceError::TooManyRequests { .. }),
        ) => {
            let extras = MembersExtras {
                error: Some(e.public_message()),
                ..MembersExtras::default()
            };
            render_members(app, session, org_id, None, None, e.status(), extras).await
        }
        Err(e) => service_error_page(app, e),
    }
}

#[derive(Deserialize)]
pub struct AfterQuery {
    after: Option<String>,
}

pub async fn audit_log(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    PagePath(org_id): PagePath<OrgId>,
    Query(q): Query<AfterQuery>,
) -> Response {
    let org = match app
        .org_access_for(&session.user, &org_id, OrgAction::ViewAuditLog)
        .await
    {
        Ok(m) => m,
        Err(e) => return service_error_page(&app, e),
    };
    let page = match app
        .audit_log(&session.user, &org_id, q.after.as_deref(), 50)
        .await
    {
        Ok(p) => p,
        Err(e) => return service_error_page(&app, e),
    };
    let next_after = page.data.last().map(|e| e.id.to_string());
    let entries = page
        .data
        .iter()
        .map(|e| {
            let details: Value = serde_json::from_str(&e.details).unwrap_or(Value::Null);
            let details = match details {
                Value::Object(map) => map
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{k}: {}",
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                _ => String::new(),
            };
            AuditRow {
                id: e.id,
                actor: e.actor_email.clone(),
                action: e.action.clone(),
                target: format!("{} {}", e.target_type, e.target_id),
                details,
                ip: e.ip.clone(),
                time: minute(e.created_at),
            }
        })
        .collect();
    let ctx = AuditLogPage {
        entries,
        has_more: page.has_more,
        next_after,
        paged: q.after.is_some(),
    };
    org_page(
        &app,
        &session,
        &org,
        Section::AuditLog,
        "audit_log.html",
        StatusCode::OK,
        &ctx,
    )
    .await
}

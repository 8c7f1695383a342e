//! The Projects page, a project's page (rename, archive, members), and their forms.

use crate::console::PagePath;
use std::sync::Arc;
use tollgate_domain::{OrgId, ProjectId, UserId};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tollgate_domain::{allows, OrgAction, ProjectAction};
use tollgate_store::User;

use crate::app::App;
use crate::auth::{ClientInfo, CurrentSession};
use crate::console::contexts::project::{
    Candidate, MemberRow, ProjectFields, ProjectForms, ProjectPage, ProjectRow, ProjectView,
    ProjectsPage,
};
use crate::console::form_guard::{csrf_field, CheckedForm, CsrfForm, NameForm};
use crate::console::page::org_page;
use crate::console::page::Section;
use crate::console::service_error_page;
use crate::console::usage_panels::project_usage;
use crate::console::{urlencode, PageSession};
use crate::service::projects::ProjectAccess;
use crate::service::ServiceError;
use crate::time::day;

const PAGE_SIZE: i64 = 50;

#[derive(Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    new: Option<String>,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "created" => Some("Project created."),
        "renamed" => Some("Project name saved."),
        "archived" => Some("Project archived: its API keys no longer work."),
        "member_saved" => Some("Project member saved."),
        "member_removed" => Some("Member removed from the project."),
        "spend_saved" => Some("Spend limit saved: requests that could exceed it are refused."),
        "spend_removed" => Some("Spend limit removed."),
        "models" => Some("Models saved: keys of this project can call them within a second."),
        "limits" => Some("Project rate limits saved."),
        _ => None,
    }
}

pub async fn list(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    PagePath(org_id): PagePath<OrgId>,
    Query(q): Query<ListQuery>,
) -> Response {
    let form = (
        q.new.is_some(),
        ProjectFields::default(),
        ProjectFields::default(),
    );
    render_list(&app, &session, &org_id, q.after, StatusCode::OK, form).await
}

/// The Projects page; `form` is the New Project form: whether it is open, its values and
/// errors.
async fn render_list(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
    after: Option<String>,
    status: StatusCode,
    (show_new, values, errors): (bool, ProjectFields, ProjectFields),
) -> Response {
    let (membership, projects) = match app
        .list_projects(&session.user, org_id, after.as_deref(), PAGE_SIZE)
        .await
    {
        Ok(found) => found,
        Err(e) => return service_error_page(app, e),
    };
    let rows = projects
        .data
        .iter()
        .map(|p| ProjectRow {
            id: &p.project.id,
            name: &p.project.name,
            is_default: p.project.is_default,
            archived: p.project.is_archived(),
            created: day(p.project.created_at),
            role: p.role.map_or("project_admin", |r| r.as_str()),
        })
        .collect();
    let next_href = match (projects.has_more, projects.data.last()) {
        (true, Some(last)) => Some(format!(
            "/o/{}/projects?after={}",
            urlencode(org_id),
            urlencode(&last.project.id)
        )),
        _ => None,
    };
    let page = ProjectsPage {
        show_new,
        values,
        errors,
        projects: rows,
        next_href,
        can_manage: allows(membership.role, OrgAction::ManageProjects),
    };
    org_page(
        app,
        session,
        &membership,
        Section::Projects,
        "projects.html",
        status,
        &page,
    )
    .await
}

pub async fn create(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath(org_id): PagePath<OrgId>,
    CheckedForm { session, form }: CheckedForm<NameForm>,
) -> Response {
    match app
        .create_project(&session.user, &org_id, &form.name, &client)
        .await
    {
        Ok(project) => Redirect::to(&format!(
            "/o/{}/projects/{}?notice=created",
            urlencode(&org_id),
            urlencode(&project.id)
        ))
        .into_response(),
        Err(ServiceError::Invalid(v)) => {
            let page = (
                true,
                ProjectFields::of("name", form.name),
                ProjectFields::of(v.field, v.message),
            );
            render_list(
                &app,
                &session,
                &org_id,
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                page,
            )
            .await
        }
        Err(e) => service_error_page(&app, e),
    }
}

pub async fn show(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    PagePath((org_id, project_id)): PagePath<(OrgId, ProjectId)>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let forms = ProjectForms {
        notice: notice_text(q.notice.as_deref()),
        ..ProjectForms::default()
    };
    render_project(&app, &session, &org_id, &project_id, StatusCode::OK, forms).await
}

pub(crate) async fn render_project(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
    project_id: &ProjectId,
    status: StatusCode,
    forms: ProjectForms,
) -> Response {
    let (access, members) = match app
        .list_project_members(&session.user, org_id, project_id, None, 100)
        .await
    {
        Ok(found) => found,
        Err(e) => return service_error_page(app, e),
    };
    let can_manage_members = access.allows(ProjectAction::ManageMembers);
    let candidates = if can_manage_members {
        match candidates(app, &access, &members.data).await {
            Ok(c) => c,
            Err(e) => return service_error_page(app, e),
        }
    } else {
        Vec::new()
    };
    let can_manage = allows(access.membership.role, OrgAction::ManageProjects);
    let spend = match crate::console::spend_pages::project_card(
        app,
        &session.user,
        org_id,
        project_id,
        can_manage,
    )
    .await
    {
        Ok(card) => card,
        Err(e) => return service_error_page(app, e),
    };
    let usage = match project_usage(app, &session.user, org_id, project_id).await {
        Ok(u) => u,
        Err(e) => return service_error_page(app, e),
    };
    let gateway = match crate::console::project_gateway_pages::settings(app, session, &access).await
    {
        Ok(g) => g,
        Err(e) => return service_error_page(app, e),
    };
    let catalog = app.catalog.current();
    let p = &access.project;
    let page = ProjectPage {
        forms,
        spend,
        project_usage: usage,
        project: ProjectView {
            id: &p.id,
            name: &p.name,
            is_default: p.is_default,
            archived: p.is_archived(),
            created: day(p.created_at),
        },
        can_manage,
        can_manage_members,
        members: members
            .data
            .iter()
            .map(|m| MemberRow {
                user_id: &m.user_id,
                name: &m.name,
                email: &m.email,
                role: m.role.as_str(),
                added: day(m.created_at),
            })
            .collect(),
        candidates,
        gateway_origin: app.config.public_url.as_deref(),
        // The examples call a model the project may use.
        gateway_model: gateway
            .first_allowed
            .or_else(|| catalog.models().first().map(|m| m.id.clone())),
        gateway: gateway.settings,
    };
    org_page(
        app,
        session,
        &access.membership,
        Section::Projects,
        "project.html",
        status,
        &page,
    )
    .await
}

/// Organization members who could be added: not org admins, not in the project already.
async fn candidates(
    app: &App,
    access: &ProjectAccess,
    members: &[tollgate_store::ProjectMember],
) -> Result<Vec<Candidate>, ServiceError> {
    Ok(app
        .store
        .list_members(
            &access.project.org_id,
            None,
            tollgate_store::PageRequest::first(500),
        )
        .await?
        .into_iter()
        .filter(|c| !c.role.is_admin() && members.iter().all(|m| m.user_id != c.user_id))
        .map(|c| Candidate {
            user_id: c.user_id,
            email: c.email,
            name: c.name,
        })
        .collect())
}

pub(super) fn back_to(org_id: &OrgId, project_id: &ProjectId, notice: &str) -> Response {
    Redirect::to(&format!(
        "/o/{}/projects/{}?notice={notice}",
        urlencode(org_id),
        urlencode(project_id)
    ))
    .into_response()
}

pub async fn rename(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, project_id)): PagePath<(OrgId, ProjectId)>,
    CheckedForm { session, form }: CheckedForm<NameForm>,
) -> Response {
    match app
        .rename_project(&session.user, &org_id, &project_id, &form.name, &client)
        .await
    {
        Ok(_) => back_to(&org_id, &project_id, "renamed"),
        Err(ServiceError::Invalid(v)) => {
            let forms = ProjectForms {
                values: ProjectFields::of("name", form.name),
                errors: ProjectFields::of(v.field, v.message),
                ..ProjectForms::default()
            };
            render_project(
                &app,
                &session,
                &org_id,
                &project_id,
                StatusCode::UNPROCESSABLE_ENTITY,
                forms,
            )
            .await
        }
        Err(e) => service_error_page(&app, e),
    }
}

csrf_field!(MemberForm);

pub async fn archive(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, project_id)): PagePath<(OrgId, ProjectId)>,
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
) -> Response {
    match app
        .archive_project(&session.user, &org_id, &project_id, &client)
        .await
    {
        Ok(_) => back_to(&org_id, &project_id, "archived"),
        Err(e) => service_error_page(&app, e),
    }
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    role: String,
}

pub async fn set_member(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, project_id)): PagePath<(OrgId, ProjectId)>,
    CheckedForm { session, form }: CheckedForm<MemberForm>,
) -> Response {
    let user: &User = &session.user;
    // The member chosen in the form, read here like an id in the path (decision 0011).
    let Some(member_id) = UserId::parse(&form.user_id) else {
        return service_error_page(&app, ServiceError::NotFound("member"));
    };
    match app
        .set_project_member(user, &org_id, &project_id, &member_id, &form.role, &client)
        .await
    {
        Ok(_) => back_to(&org_id, &project_id, "member_saved"),
        Err(e) => service_error_page(&app, e),
    }
}

pub async fn remove_member(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, project_id, user_id)): PagePath<(OrgId, ProjectId, UserId)>,
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
) -> Response {
    match app
        .remove_project_member(&session.user, &org_id, &project_id, &user_id, &client)
        .await
    {
        // Removing oneself from one's last project ends access: go where access remains.
        Ok(()) if user_id == session.user.id => Redirect::to("/").into_response(),
        Ok(()) => back_to(&org_id, &project_id, "member_removed"),
        Err(e) => service_error_page(&app, e),
    }
}

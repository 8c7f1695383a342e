//! The API Keys page: keys of the chosen project (or of every project, for org admins), the
//! create form — which redirects to the page that shows the full key, once, from a flash
//! cookie — and revocation.

use crate::console::PagePath;
use std::sync::Arc;
use tollgate_domain::{ApiKeyId, OrgId, ProjectId};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tollgate_domain::{allows, OrgAction, ProjectAction};
use tollgate_store::{ApiKey, Membership, ProjectWithRole};

use crate::app::App;
use crate::auth::{ClientInfo, CurrentSession};
use crate::console::contexts::keys::{
    CreatedKey, CurrentProject, KeyErrors, KeyFields, KeyRow, KeySpendError, KeysPage,
    ProjectOption, ProjectSwitcher, SwitcherEntry,
};
use crate::console::flash::NewKeyFlash;
use crate::console::flash::{clear_new_key_flash_cookie, new_key_flash_cookie, take_new_key_flash};
use crate::console::form_guard::{csrf_field, CheckedForm};
use crate::console::page::org_page;
use crate::console::page::Section;
use crate::console::service_error_page;
use crate::console::usage_panels::key_usage;
use crate::console::{urlencode, PageSession};
use crate::service::projects::ProjectAccess;
use crate::service::{Page, ServiceError, ServiceResult};
use crate::time::{day, minute};

const PAGE_SIZE: i64 = 50;

/// The project context of the page: one project, or all of them (org admins only).
#[derive(Debug, Clone, PartialEq, Eq)]
enum View {
    All,
    Project(ProjectId),
}

impl View {
    fn param(&self) -> &str {
        match self {
            Self::All => "all",
            Self::Project(id) => id,
        }
    }
}

#[derive(Deserialize)]
pub struct KeysQuery {
    project: Option<String>,
    after: Option<String>,
    notice: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "revoked" => Some("Key revoked: requests with it fail from now on."),
        "spend_saved" => Some("Spend limit saved: requests that could exceed it are refused."),
        "spend_removed" => Some("Spend limit removed."),
        _ => None,
    }
}

pub async fn list(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    client: ClientInfo,
    headers: HeaderMap,
    PagePath(org_id): PagePath<OrgId>,
    Query(q): Query<KeysQuery>,
) -> Response {
    let created = take_new_key_flash(&app, &headers, &session, &org_id).await;
    let shown = created.is_some();
    let extra = PageExtra {
        notice: notice_text(q.notice.as_deref()),
        created,
        ..PageExtra::default()
    };
    let mut response = render(
        &app,
        &session,
        &org_id,
        q.project.as_deref(),
        q.after,
        StatusCode::OK,
        extra,
    )
    .await;
    if shown {
        // Shown once: a reload of this page no longer has it.
        response.headers_mut().append(
            header::SET_COOKIE,
            clear_new_key_flash_cookie(&app, &org_id, &client),
        );
    }
    response
}

#[derive(Default)]
struct PageExtra {
    notice: Option<&'static str>,
    created: Option<NewKeyFlash>,
    values: Option<KeyFields>,
    errors: Option<KeyErrors>,
}

/// Every project the caller can see (for the switcher and the create form).
async fn visible_projects(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
) -> ServiceResult<(Membership, Vec<ProjectWithRole>)> {
    let (membership, page) = app.list_projects(&session.user, org_id, None, 100).await?;
    Ok((membership, page.data))
}

/// Which project the page shows: the one asked for, else "All projects" for org admins and the
/// first active project for others.
fn choose_view(
    membership: &Membership,
    projects: &[ProjectWithRole],
    asked: Option<&str>,
) -> ServiceResult<View> {
    let sees_all = allows(membership.role, OrgAction::ViewAllProjects);
    match asked {
        Some("all") if sees_all => Ok(View::All),
        Some("all") => Err(ServiceError::Forbidden(OrgAction::ViewAllProjects)),
        // From the query string; the organization was checked (`membership`), as
        // `project_access` checks it before the project.
        Some(id) => ProjectId::parse(id)
            .map(View::Project)
            .ok_or(ServiceError::NotFound("project")),
        None if sees_all => Ok(View::All),
        None => projects
            .iter()
            .find(|p| !p.project.is_archived())
            .or(projects.first())
            .map(|p| View::Project(p.project.id.clone()))
            .ok_or(ServiceError::NotFound("project")),
    }
}

/// The key list again, with a key's spend limit form open and its error (422).
pub(crate) async fn render_with_spend_error(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
    view: &str,
    spend_error: KeySpendError,
) -> Response {
    let extra = PageExtra {
        notice: None,
        created: None,
        values: Some(KeyFields::default()),
        errors: Some(KeyErrors {
            spend: Some(spend_error),
            ..KeyErrors::default()
        }),
    };
    render(
        app,
        session,
        org_id,
        Some(view),
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
        extra,
    )
    .await
}

async fn render(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
    asked: Option<&str>,
    after: Option<String>,
    status: StatusCode,
    extra: PageExtra,
) -> Response {
    match render_page(app, session, org_id, asked, after, status, extra).await {
        Ok(mut response) => {
            // A page that may carry a secret is never stored by the browser or a proxy.
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            response
        }
        Err(e) => service_error_page(app, e),
    }
}

async fn render_page(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
    asked: Option<&str>,
    after: Option<String>,
    status: StatusCode,
    extra: PageExtra,
) -> ServiceResult<Response> {
    let (membership, projects) = visible_projects(app, session, org_id).await?;
    let view = choose_view(&membership, &projects, asked)?;
    let after = after.as_deref();
    let user = &session.user;
    // Org admins ("All projects") revoke every key; in a project, who may revoke which key
    // is the project's rule (admins: all, members: their own).
    let (keys, access): (Page<ApiKey>, Option<ProjectAccess>) = match &view {
        View::All => (
            app.list_org_api_keys(user, org_id, after, PAGE_SIZE)
                .await?,
            None,
        ),
        View::Project(id) => {
            let (access, keys) = app
                .list_api_keys(user, org_id, id, after, PAGE_SIZE)
                .await?;
            (keys, Some(access))
        }
    };
    let current = access.as_ref().map(|a| CurrentProject {
        id: &a.project.id,
        name: &a.project.name,
        archived: a.project.is_archived(),
    });
    let spend_limits = crate::console::spend_pages::key_limits(app, org_id).await?;
    let can_create = access
        .as_ref()
        .is_none_or(|a| a.allows(ProjectAction::UseOwnKeys));
    let can_revoke = |k: &ApiKey| access.as_ref().is_none_or(|a| a.may_revoke(k, user));
    // A key's spend limit is set by whoever manages all the project's keys (not a member
    // revoking their own).
    let can_limit = access
        .as_ref()
        .is_none_or(|a| a.allows(ProjectAction::ManageKeys));
    let name_of = |project_id: &str| {
        projects
            .iter()
            .find(|p| p.project.id == project_id)
            .map_or_else(|| project_id.to_owned(), |p| p.project.name.clone())
    };
    let usage = key_usage(app, org_id, &keys.data).await?;
    let rows = keys
        .data
        .iter()
        .map(|k| {
            let (spend, last_used) = usage.get(&k.id).cloned().unwrap_or_default();
            KeyRow {
                id: &k.id,
                name: &k.name,
                preview: tollgate_domain::api_key::masked_preview(&k.public_id),
                project_id: &k.project_id,
                project_name: name_of(&k.project_id),
                creator: k.created_by.as_ref().map(|c| c.email.as_str()),
                created: day(k.created_at),
                last_used: last_used.map(minute),
                spend_this_month: spend,
                can_revoke: can_revoke(k),
                can_limit,
                spend_limit: spend_limits.get(k.id.as_str()).map(String::as_str),
            }
        })
        .collect();
    let base = format!("/o/{}/api-keys", urlencode(org_id));
    let next_href = match (keys.has_more, keys.data.last()) {
        (true, Some(last)) => Some(format!(
            "{base}?project={}&after={}",
            urlencode(view.param()),
            urlencode(&last.id)
        )),
        _ => None,
    };
    // Projects a key may be created in from "All projects": active ones (org admins manage all).
    let create_projects = ProjectOption::active(&projects);
    let archived = current.as_ref().is_some_and(|c| c.archived);
    let can_create = can_create && !archived && !create_projects.is_empty();
    let sees_all = allows(membership.role, OrgAction::ViewAllProjects);
    let switcher = ProjectSwitcher {
        label: current.as_ref().map_or("All projects", |c| c.name),
        all: sees_all.then(|| SwitcherEntry {
            name: None,
            href: format!("{base}?project=all"),
            current: view == View::All,
        }),
        items: projects
            .iter()
            .map(|p| SwitcherEntry {
                name: Some(&p.project.name),
                href: format!("{base}?project={}", urlencode(&p.project.id)),
                current: matches!(&view, View::Project(id) if *id == p.project.id),
            })
            .collect(),
    };
    let page = KeysPage {
        keys: rows,
        all_projects: view == View::All,
        current_project: current,
        view: view.param(),
        can_create,
        create_projects,
        next_href,
        project_switcher: switcher,
        notice: extra.notice,
        created: extra.created.as_ref().map(|c| CreatedKey {
            name: &c.key.name,
            key: &c.secret,
        }),
        values: extra.values,
        errors: extra.errors,
    };
    Ok(org_page(
        app,
        session,
        &membership,
        Section::ApiKeys,
        "api_keys.html",
        status,
        &page,
    )
    .await)
}

csrf_field!(CreateForm, RevokeForm);

#[derive(Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    project: String,
    view: Option<String>,
}

pub async fn create(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath(org_id): PagePath<OrgId>,
    CheckedForm { session, form }: CheckedForm<CreateForm>,
) -> Response {
    let view = form.view.clone().unwrap_or_else(|| form.project.clone());
    let created = async {
        let project_id = app
            .project_id_in(&session.user, &org_id, &form.project)
            .await?;
        app.create_api_key(&session.user, &org_id, &project_id, &form.name, &client)
            .await
    };
    match created.await {
        // Redirected, so that a reload does not create a second key; the full key follows in
        // a flash cookie, never in the URL.
        Ok(created) => {
            let mut response = Redirect::to(&format!(
                "/o/{}/api-keys?project={}",
                urlencode(&org_id),
                urlencode(&view)
            ))
            .into_response();
            response.headers_mut().append(
                header::SET_COOKIE,
                new_key_flash_cookie(&app, &org_id, &created.key.id, &created.secret, &client),
            );
            response
        }
        Err(ServiceError::Invalid(v)) => {
            let extra = PageExtra {
                values: Some(KeyFields {
                    name: Some(form.name),
                    project: Some(form.project),
                }),
                errors: Some(KeyErrors {
                    fields: KeyFields::of(v.field, v.message),
                    spend: None,
                }),
                ..PageExtra::default()
            };
            render(
                &app,
                &session,
                &org_id,
                Some(&view),
                None,
                StatusCode::UNPROCESSABLE_ENTITY,
                extra,
            )
            .await
        }
        Err(e) => service_error_page(&app, e),
    }
}

#[derive(Deserialize)]
pub struct RevokeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    project: String,
    view: Option<String>,
}

pub async fn revoke(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, key_id)): PagePath<(OrgId, ApiKeyId)>,
    CheckedForm { session, form }: CheckedForm<RevokeForm>,
) -> Response {
    let revoked = async {
        let project_id = app
            .project_id_in(&session.user, &org_id, &form.project)
            .await?;
        app.revoke_api_key(&session.user, &org_id, &project_id, &key_id, &client)
            .await
    };
    match revoked.await {
        Ok(_) => {
            let view = form.view.unwrap_or(form.project);
            Redirect::to(&format!(
                "/o/{}/api-keys?project={}&notice=revoked",
                urlencode(&org_id),
                urlencode(&view)
            ))
            .into_response()
        }
        Err(e) => service_error_page(&app, e),
    }
}

//! The organization's pages: overview, settings, and creating an organization.

use crate::console::PagePath;
use std::sync::Arc;
use tollgate_domain::OrgId;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tollgate_domain::{allows, OrgAction};

use crate::app::App;
use crate::auth::ClientInfo;
use crate::console::dashboard::{self, BillingCard, Step, UsageCard};
use crate::console::form_fields::form_fields;
use crate::console::form_guard::{csrf_field, CheckedForm, NameForm};
use crate::console::page::Section;
use crate::console::page::{error_page, org_page};
use crate::console::service_error_page;
use crate::console::{urlencode, PageSession};
use crate::service::ServiceError;

/// `overview.html`.
#[derive(Serialize)]
struct OverviewPage {
    member_count: i64,
    usage: UsageCard,
    billing: Option<BillingCard>,
    steps: Vec<Step>,
    notice: Option<&'static str>,
}

form_fields!(
    /// The name forms' (rename, new organization) value and errors.
    pub struct NameFields { name, require_2fa }
);

/// The Require-two-factor checkbox as the form sent it.
#[derive(Default, Serialize)]
struct SettingsValues {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    require_2fa: Option<bool>,
}

/// `settings.html`.
#[derive(Serialize)]
struct SettingsPage {
    can_rename: bool,
    can_require_2fa: bool,
    values: SettingsValues,
    errors: NameFields,
    notice: Option<&'static str>,
}

/// `new_org.html`.
#[derive(Default, Serialize)]
pub(crate) struct NewOrgPage {
    values: NameFields,
    errors: NameFields,
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "renamed" => Some("Organization name saved."),
        "created" => Some("Organization created."),
        "joined" => Some("Welcome! You have joined the organization."),
        "two_factor_on" => Some("Two-factor sign-in is now required for all members."),
        "two_factor_off" => Some("Two-factor sign-in is no longer required."),
        _ => None,
    }
}

/// `/`: the first organization of a signed-in user, or the login page.
pub async fn home(State(app): State<Arc<App>>, session: Option<PageSession>) -> Response {
    let Some(PageSession(session)) = session else {
        return Redirect::to("/login").into_response();
    };
    match app.store.memberships(&session.user.id).await {
        Ok(all) => match all.first() {
            Some(m) => Redirect::to(&format!("/o/{}", urlencode(&m.org.id))).into_response(),
            None => Redirect::to("/orgs/new").into_response(),
        },
        Err(e) => service_error_page(&app, e.into()),
    }
}

pub async fn overview(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    PagePath(org_id): PagePath<OrgId>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let org = match app.org_access(&session.user, &org_id).await {
        Ok(m) => m,
        Err(e) => return service_error_page(&app, e),
    };
    let member_count = match app.store.count_members(&org_id).await {
        Ok(n) => n,
        Err(e) => return service_error_page(&app, e.into()),
    };
    let dashboard = async {
        let usage = dashboard::overview_usage(&app, &session.user, &org_id).await?;
        let billing = dashboard::overview_billing(&app, &session.user, &org).await?;
        let steps = dashboard::getting_started(&app, &session.user, &org, member_count).await?;
        Ok::<_, ServiceError>((usage, billing, steps))
    };
    let (usage, billing, steps) = match dashboard.await {
        Ok(d) => d,
        Err(e) => return service_error_page(&app, e),
    };
    let page = OverviewPage {
        member_count,
        usage,
        billing,
        steps,
        notice: notice_text(q.notice.as_deref()),
    };
    org_page(
        &app,
        &session,
        &org,
        Section::Overview,
        "overview.html",
        StatusCode::OK,
        &page,
    )
    .await
}

pub async fn settings(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    PagePath(org_id): PagePath<OrgId>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let org = match app
        .org_access_for(&session.user, &org_id, OrgAction::ViewSettings)
        .await
    {
        Ok(m) => m,
        Err(e) => return service_error_page(&app, e),
    };
    let page = SettingsPage {
        can_rename: allows(org.role, OrgAction::RenameOrg),
        can_require_2fa: allows(org.role, OrgAction::RequireTwoFactor),
        values: SettingsValues::default(),
        errors: NameFields::default(),
        notice: notice_text(q.notice.as_deref()),
    };
    org_page(
        &app,
        &session,
        &org,
        Section::Settings,
        "settings.html",
        StatusCode::OK,
        &page,
    )
    .await
}

#[derive(Deserialize)]
pub struct RequireTwoFactorForm {
    #[serde(default)]
    csrf: String,
    /// The checkbox: `on` when ticked, absent otherwise.
    require_2fa: Option<String>,
}

/// The Settings page's "Require two-factor sign-in for all members" (org admins). The lockout
/// refusal (`two_factor_not_enabled`) is drawn in the page next to the checkbox.
pub async fn require_two_factor(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath(org_id): PagePath<OrgId>,
    CheckedForm { session, form }: CheckedForm<RequireTwoFactorForm>,
) -> Response {
    let require = form.require_2fa.is_some();
    match app
        .set_org_require_2fa(&session.user, &org_id, require, &client)
        .await
    {
        Ok(org) => {
            let notice = if org.require_2fa {
                "two_factor_on"
            } else {
                "two_factor_off"
            };
            Redirect::to(&format!(
                "/o/{}/settings?notice={notice}",
                urlencode(&org.id)
            ))
            .into_response()
        }
        Err(e @ ServiceError::Conflict { .. }) => {
            let org = match app.org_access(&session.user, &org_id).await {
                Ok(m) => m,
                Err(e) => return service_error_page(&app, e),
            };
            let page = SettingsPage {
                can_rename: allows(org.role, OrgAction::RenameOrg),
                can_require_2fa: true,
                values: SettingsValues {
                    require_2fa: Some(require),
                    ..SettingsValues::default()
                },
                errors: NameFields::of("require_2fa", e.public_message()),
                notice: None,
            };
            org_page(
                &app,
                &session,
                &org,
                Section::Settings,
                "settings.html",
                e.status(),
                &page,
            )
            .await
        }
        Err(e) => service_error_page(&app, e),
    }
}

csrf_field!(RequireTwoFactorForm);

pub async fn rename(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath(org_id): PagePath<OrgId>,
    CheckedForm { session, form }: CheckedForm<NameForm>,
) -> Response {
    match app
        .rename_org(&session.user, &org_id, &form.name, &client)
        .await
    {
        Ok(org) => Redirect::to(&format!(
            "/o/{}/settings?notice=renamed",
            urlencode(&org.id)
        ))
        .into_response(),
        Err(ServiceError::Invalid(v)) => {
            let org = match app.org_access(&session.user, &org_id).await {
                Ok(m) => m,
                Err(e) => return service_error_page(&app, e),
            };
            let page = SettingsPage {
                can_rename: true,
                can_require_2fa: allows(org.role, OrgAction::RequireTwoFactor),
                values: SettingsValues {
                    name: Some(form.name),
                    ..SettingsValues::default()
                },
                errors: NameFields::of(v.field, v.message),
                notice: None,
            };
            org_page(
                &app,
                &session,
                &org,
                Section::Settings,
                "settings.html",
                StatusCode::UNPROCESSABLE_ENTITY,
                &page,
            )
            .await
        }
        Err(e) => service_error_page(&app, e),
    }
}

pub async fn new_org_form(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
) -> Response {
    render_new_org(&app, &session, StatusCode::OK, &NewOrgPage::default()).await
}

async fn render_new_org(
    app: &App,
    session: &crate::auth::CurrentSession,
    status: StatusCode,
    page: &NewOrgPage,
) -> Response {
    // The page sits in the frame of the user's first organization (for the switcher).
    let first = match app.store.memberships(&session.user.id).await {
        Ok(all) => all.into_iter().next(),
        Err(e) => return service_error_page(app, e.into()),
    };
    match first {
        Some(org) => {
            org_page(
                app,
                session,
                &org,
                Section::NewOrg,
                "new_org.html",
                status,
                page,
            )
            .await
        }
        None => error_page(app, StatusCode::NOT_FOUND, "You belong to no organization."),
    }
}

pub async fn create_org(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    CheckedForm { session, form }: CheckedForm<NameForm>,
) -> Response {
    match app.create_org(&session.user, &form.name, &client).await {
        Ok(org) => {
            Redirect::to(&format!("/o/{}?notice=created", urlencode(&org.id))).into_response()
        }
        Err(ServiceError::Invalid(v)) => {
            let page = NewOrgPage {
                values: NameFields::of("name", form.name),
                errors: NameFields::of(v.field, v.message),
            };
            render_new_org(&app, &session, StatusCode::UNPROCESSABLE_ENTITY, &page).await
        }
        Err(e) => service_error_page(&app, e),
    }
}

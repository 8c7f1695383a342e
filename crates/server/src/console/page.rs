//! Rendering a console page: the layout's context (user, organizations, navigation, CSRF
//! token) plus the page's own values.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Value;
use serde::Serialize;
use tollgate_domain::{allows, OrgAction};
use tollgate_store::{Membership, User};

use crate::app::App;
use crate::auth::csrf;
use crate::auth::CurrentSession;

/// A sidebar entry.
#[derive(serde::Serialize)]
struct NavItem {
    label: &'static str,
    href: String,
    active: bool,
}

/// The pages of an organization, each listed only for roles that may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Overview,
    Projects,
    ApiKeys,
    Playground,
    Usage,
    Limits,
    Members,
    Billing,
    Settings,
    AuditLog,
    NewOrg,
    /// The user's own account (no sidebar entry is active).
    Account,
}

fn nav(org: &Membership, active: Section) -> Vec<NavItem> {
    let id = &org.org.id;
    // Projects and API Keys need no org-level permission: everyone with access to the
    // organization has at least one project, and sees its keys (masked).
    let entries: [(Section, &'static str, String, Option<OrgAction>); 10] = [
        (Section::Overview, "Overview", format!("/o/{id}"), None),
        (
            Section::Projects,
            "Projects",
            format!("/o/{id}/projects"),
            None,
        ),
        (
            Section::ApiKeys,
            "API Keys",
            format!("/o/{id}/api-keys"),
            None,
        ),
        // Playground: everyone; it offers the projects where one may use keys.
        (
            Section::Playground,
            "Playground",
            format!("/o/{id}/playground"),
            None,
        ),
        // Usage: everyone, for the projects they see.
        (Section::Usage, "Usage", format!("/o/{id}/usage"), None),
        // Limits: everyone; they are the organization's.
        (Section::Limits, "Limits", format!("/o/{id}/limits"), None),
        (
            Section::Members,
            "Members",
            format!("/o/{id}/members"),
            Some(OrgAction::ManageMembers),
        ),
        (
            Section::Billing,
            "Billing",
            format!("/o/{id}/billing"),
            Some(OrgAction::ManageBilling),
        ),
        (
            Section::Settings,
            "Settings",
            format!("/o/{id}/settings"),
            Some(OrgAction::ViewSettings),
        ),
        (
            Section::AuditLog,
            "Audit log",
            format!("/o/{id}/audit-log"),
            Some(OrgAction::ViewAuditLog),
        ),
    ];
    entries
        .into_iter()
        .filter(|(_, _, _, needs)| needs.is_none_or(|action| allows(org.role, action)))
        .map(|(section, label, href, _)| NavItem {
            label,
            href,
            active: section == active,
        })
        .collect()
}

/// An organization as the layout shows it (the current one, and each in the switcher).
#[derive(Serialize)]
struct OrgContext<'a> {
    id: &'a str,
    name: &'a str,
    #[serde(rename = "type")]
    org_type: &'static str,
    role: &'static str,
    require_2fa: bool,
}

impl<'a> From<&'a Membership> for OrgContext<'a> {
    fn from(m: &'a Membership) -> Self {
        Self {
            id: &m.org.id,
            name: &m.org.name,
            org_type: m.org.org_type.as_str(),
            role: m.role.as_str(),
            require_2fa: m.org.require_2fa,
        }
    }
}

/// The signed-in user as the layout shows it.
#[derive(Serialize)]
struct UserContext<'a> {
    id: &'a str,
    email: &'a str,
    name: &'a str,
    email_verified: bool,
}

/// A signed-in page's context: the layout's part (`layout.html`) and the page's own fields,
/// side by side at the top level.
#[derive(Serialize)]
struct OrgLayout<'a, T: Serialize> {
    user: UserContext<'a>,
    orgs: Vec<OrgContext<'a>>,
    org: OrgContext<'a>,
    nav: Vec<NavItem>,
    csrf: String,
    #[serde(flatten)]
    page: &'a T,
}

impl<'a, T: Serialize> OrgLayout<'a, T> {
    fn new(
        user: &'a User,
        memberships: &'a [Membership],
        org: &'a Membership,
        section: Section,
        csrf: String,
        page: &'a T,
    ) -> Self {
        Self {
            user: UserContext {
                id: &user.id,
                email: &user.email,
                name: &user.name,
                email_verified: user.email_verified(),
            },
            orgs: memberships.iter().map(OrgContext::from).collect(),
            org: OrgContext::from(org),
            nav: nav(org, section),
            csrf,
            page,
        }
    }
}

/// A signed-out page's context (`auth_layout.html`).
#[derive(Serialize)]
struct PublicLayout<'a, T: Serialize> {
    csrf: String,
    #[serde(flatten)]
    page: &'a T,
}

/// `error.html`'s context.
#[derive(Serialize)]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    message: &'a str,
}

/// Renders a signed-in page of organization `org`.
pub async fn org_page(
    app: &App,
    session: &CurrentSession,
    org: &Membership,
    section: Section,
    template: &str,
    status: StatusCode,
    page: &impl Serialize,
) -> Response {
    let memberships = match app.store.memberships(&session.user.id).await {
        Ok(all) => all,
        Err(e) => return error_page(app, StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let csrf = csrf::token_for(&session.token);
    let ctx = OrgLayout::new(&session.user, &memberships, org, section, csrf, page);
    render(app, template, status, &ctx)
}

/// Renders a signed-out page (log in, sign up); `csrf_secret` is the `tg_csrf` cookie.
pub fn public_page(
    app: &App,
    template: &str,
    status: StatusCode,
    csrf_secret: &str,
    page: &impl Serialize,
) -> Response {
    let ctx = PublicLayout {
        csrf: csrf::token_for(csrf_secret),
        page,
    };
    render(app, template, status, &ctx)
}

/// An error page. Internal details are logged, never shown.
pub fn error_page(app: &App, status: StatusCode, detail: &str) -> Response {
    let (title, message) = match status {
        StatusCode::NOT_FOUND => (
            "Not found",
            "There is nothing here, or it is not yours to see.",
        ),
        StatusCode::FORBIDDEN => ("Not allowed", detail),
        StatusCode::TOO_MANY_REQUESTS => ("Slow down", detail),
        StatusCode::SERVICE_UNAVAILABLE => ("Busy", detail),
        StatusCode::PAYLOAD_TOO_LARGE => (
            "Too large",
            "The form sent more data than this server accepts.",
        ),
        s if s.is_server_error() => {
            tracing::error!(%detail, "console error");
            (
                "Something went wrong",
                "Something went wrong on our side; it has been logged.",
            )
        }
        _ => ("Bad request", detail),
    };
    let ctx = ErrorPage {
        status: status.as_u16(),
        title,
        message,
    };
    render(app, "error.html", status, &ctx)
}

fn render(app: &App, template: &str, status: StatusCode, ctx: &impl Serialize) -> Response {
    match app.templates.render(template, Value::from_serialize(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, template, "template failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("Something went wrong on our side."),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    //! Each page's context is a struct, and templates render strictly in debug builds
    //! (decision 0010): a key that a template reads and its context lacks fails the page, so a
    //! misspelt key fails a test instead of rendering blank.

    use super::*;
    use crate::console::org_pages::NewOrgPage;
    use crate::console::templates::Templates;
    use tollgate_domain::{OrgRole, OrgType, UserId};
    use tollgate_store::Org;

    fn render(template: &str, ctx: &impl Serialize) -> Result<String, minijinja::Error> {
        let templates = Templates::load().expect("templates parse");
        templates.render(template, Value::from_serialize(ctx))
    }

    fn membership() -> Membership {
        Membership {
            org: Org {
                id: tollgate_domain::OrgId::from_stored("org_1".into()),
                name: "Acme".into(),
                org_type: OrgType::Team,
                created_at: 0,
                require_2fa: false,
            },
            role: OrgRole::OrgAdmin,
        }
    }

    fn user() -> User {
        User {
            id: UserId::generate(),
            email: "ada@example.com".into(),
            name: "Ada".into(),
            created_at: 0,
            email_verified_at: Some(0),
        }
    }

    #[test]
    fn a_page_renders_from_its_typed_context() {
        let page = ErrorPage {
            status: 404,
            title: "Not found",
            message: "There is nothing here.",
        };
        let html = render("error.html", &page).expect("renders");
        assert!(html.contains("There is nothing here."), "{html}");

        let (user, m) = (user(), membership());
        let memberships = [m.clone()];
        let new_org = NewOrgPage::default();
        let ctx = OrgLayout::new(
            &user,
            &memberships,
            &m,
            Section::NewOrg,
            "t".into(),
            &new_org,
        );
        let html = render("new_org.html", &ctx).expect("renders");
        assert!(
            html.contains("Acme") && html.contains("ada@example.com"),
            "{html}"
        );
    }

    #[test]
    fn a_misspelt_or_missing_key_fails_the_page() {
        #[derive(Serialize)]
        struct Misspelt {
            status: u16,
            title: &'static str,
            mesage: &'static str,
        }
        let page = Misspelt {
            status: 404,
            title: "Not found",
            mesage: "There is nothing here.",
        };
        let err = render("error.html", &page).expect_err("`message` is missing");
        assert_eq!(err.kind(), minijinja::ErrorKind::UndefinedError, "{err}");

        // A signed-in page given only a signed-out page's context: the layout's keys are
        // missing.
        let new_org = NewOrgPage::default();
        let ctx = PublicLayout {
            csrf: "t".into(),
            page: &new_org,
        };
        let err = render("new_org.html", &ctx).expect_err("`org`, `user` are missing");
        assert_eq!(err.kind(), minijinja::ErrorKind::UndefinedError, "{err}");
    }
}

//! Rendering a console page: the layout's context (user, organizations, navigation, CSRF
//! token) plus the page's own values.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Value;
use serde_json::{json, Map};
use tollgate_domain::{allows, OrgAction};
use tollgate_store::Membership;

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

fn org_json(m: &Membership) -> serde_json::Value {
    json!({"id": m.org.id, "name": m.org.name, "type": m.org.org_type.as_str(), "role": m.role.as_str(),
           "require_2fa": m.org.require_2fa})
}

impl App {
    /// Renders a signed-in page of organization `org`.
    pub async fn org_page(
        &self,
        session: &CurrentSession,
        org: &Membership,
        section: Section,
        template: &str,
        status: StatusCode,
        page: serde_json::Value,
    ) -> Response {
        let orgs = match self.store.memberships(&session.user.id).await {
            Ok(all) => all.iter().map(org_json).collect::<Vec<_>>(),
            Err(e) => return self.error_page(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
        };
        let mut ctx = Map::new();
        ctx.insert(
            "user".into(),
            json!({"id": session.user.id, "email": session.user.email, "name": session.user.name,
                   "email_verified": session.user.email_verified()}),
        );
        ctx.insert("orgs".into(), json!(orgs));
        ctx.insert("org".into(), org_json(org));
        ctx.insert("nav".into(), json!(nav(org, section)));
        ctx.insert("csrf".into(), json!(csrf::token_for(&session.token)));
        merge(&mut ctx, page);
        self.render(template, status, ctx)
    }

    /// Renders a signed-out page (log in, sign up); `csrf_secret` is the `tg_csrf` cookie.
    pub fn public_page(
        &self,
        template: &str,
        status: StatusCode,
        csrf_secret: &str,
        page: serde_json::Value,
    ) -> Response {
        let mut ctx = Map::new();
        ctx.insert("csrf".into(), json!(csrf::token_for(csrf_secret)));
        merge(&mut ctx, page);
        self.render(template, status, ctx)
    }

    /// An error page. Internal details are logged, never shown.
    pub fn error_page(&self, status: StatusCode, detail: &str) -> Response {
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
        let ctx = json!({"status": status.as_u16(), "title": title, "message": message});
        let mut map = Map::new();
        merge(&mut map, ctx);
        self.render("error.html", status, map)
    }

    fn render(
        &self,
        template: &str,
        status: StatusCode,
        ctx: Map<String, serde_json::Value>,
    ) -> Response {
        match self.templates.render(template, Value::from_serialize(&ctx)) {
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
}

fn merge(ctx: &mut Map<String, serde_json::Value>, page: serde_json::Value) {
    if let serde_json::Value::Object(page) = page {
        ctx.extend(page);
    }
}

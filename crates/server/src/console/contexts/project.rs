//! `project.html`'s context (`console/project_pages.rs`), with its cards: spend limit
//! (`spend_limit_card.html`), usage (`project_usage.html`) and gateway settings
//! (`project_gateway.html`); and `projects.html`'s.

use serde::Serialize;
use tollgate_domain::UserId;

use crate::console::form_fields::form_fields;

/// A project's page.
#[derive(Serialize)]
pub struct ProjectPage<'a> {
    #[serde(flatten)]
    pub forms: ProjectForms,
    pub spend: SpendCard,
    pub project_usage: UsageCard,
    pub project: ProjectView<'a>,
    pub can_manage: bool,
    pub can_manage_members: bool,
    pub members: Vec<MemberRow<'a>>,
    pub candidates: Vec<Candidate>,
    /// The configured public URL; without one the page shows a placeholder origin, which
    /// app.js replaces with the browser's.
    pub gateway_origin: Option<&'a str>,
    /// The model the examples call.
    pub gateway_model: Option<String>,
    #[serde(flatten)]
    pub gateway: GatewaySettings,
}

form_fields!(
    /// The project page's name form's value, and its forms' errors.
    pub struct ProjectFields { name, models }
);

/// The project page's notice, or a refused form's values and errors.
#[derive(Default, Serialize)]
pub struct ProjectForms {
    pub notice: Option<&'static str>,
    pub values: ProjectFields,
    pub errors: ProjectFields,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spend_values: Option<SpendValues>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spend_errors: Option<SpendErrors>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits_form: Option<LimitsForm>,
}

#[derive(Serialize)]
pub struct ProjectView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub is_default: bool,
    pub archived: bool,
    pub created: String,
}

/// A member of the project.
#[derive(Serialize)]
pub struct MemberRow<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub email: &'a str,
    pub role: &'static str,
    pub added: String,
}

/// A member of the organization who could be added to the project.
#[derive(Serialize)]
pub struct Candidate {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
}

/// The spend limit card: the limit (if any), this month's spend, and whether the viewer may
/// change it.
#[derive(Serialize)]
pub struct SpendCard {
    pub limit: Option<String>,
    /// "50, 80, 100".
    pub thresholds: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spent: Option<String>,
    /// `YYYY-MM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
    pub can_manage: bool,
}

/// The spend limit form as it was sent.
#[derive(Serialize)]
pub struct SpendValues {
    pub monthly_limit: String,
    pub alert_thresholds: Option<String>,
}

form_fields!(
    /// The spend limit form's errors.
    pub struct SpendErrors { monthly_limit, alert_thresholds }
);

/// The project's usage over the last 30 days.
#[derive(Serialize)]
pub struct UsageCard {
    pub requests: i64,
    pub errors: i64,
    pub tokens: i64,
    pub cost: String,
    /// Inline SVG.
    pub sparkline: String,
}

/// The gateway card: which models the project's keys may call, and its rate limits.
#[derive(Serialize)]
pub struct GatewaySettings {
    pub model_access: ModelAccess,
    pub project_limits: Vec<ModelLimitsRow>,
    pub can_manage_gateway: bool,
}

#[derive(Serialize)]
pub struct ModelAccess {
    /// Every model (no allow-list).
    pub all: bool,
    pub models: Vec<ModelChoice>,
}

#[derive(Serialize)]
pub struct ModelChoice {
    pub id: String,
    pub name: String,
    pub allowed: bool,
}

/// A model's limits, the project's next to the organization's, in each dimension.
#[derive(Serialize)]
pub struct ModelLimitsRow {
    pub id: String,
    pub name: String,
    pub fields: Vec<LimitField>,
    /// The project sets limits of its own for this model.
    pub set: bool,
}

#[derive(Serialize)]
pub struct LimitField {
    /// The form field: `rpm`, `tpd`, …
    pub name: &'static str,
    pub abbr: String,
    pub meaning: String,
    pub org: Option<u64>,
    pub value: Option<u64>,
}

/// A refused limits form: its model, what was typed, and why.
#[derive(Serialize)]
pub struct LimitsForm {
    pub model: String,
    pub values: LimitFields,
    pub errors: LimitFields,
}

form_fields!(
    /// A limits form's fields (by `Dimension::abbreviation`), and its errors (also `limits`,
    /// for the whole form).
    pub struct LimitFields { rpm, rph, rpd, tpm, tph, tpd, limits }
);

/// The Projects page.
#[derive(Serialize)]
pub struct ProjectsPage<'a> {
    pub show_new: bool,
    pub values: ProjectFields,
    pub errors: ProjectFields,
    pub projects: Vec<ProjectRow<'a>>,
    pub next_href: Option<String>,
    pub can_manage: bool,
}

#[derive(Serialize)]
pub struct ProjectRow<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub is_default: bool,
    pub archived: bool,
    pub created: String,
    pub role: &'static str,
}

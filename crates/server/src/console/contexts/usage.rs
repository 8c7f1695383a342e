//! `usage.html`'s and `requests.html`'s contexts (`console/usage_pages.rs`). Counts and
//! amounts are as people read them (`1,234`, `$5.00`).

use serde::Serialize;

pub use super::ProjectOption;

/// The Usage page.
#[derive(Serialize)]
pub struct UsagePage<'a> {
    /// `7d`, `30d`, … or `custom`.
    pub range: String,
    /// `YYYY-MM-DD`, for the date inputs.
    pub from: String,
    pub to: String,
    pub from_shown: String,
    pub to_shown: String,
    /// What the table is by: `model`, `project` or `key`.
    pub table: &'static str,
    pub project_id: Option<&'a str>,
    pub has_usage: bool,
    pub totals: UsageTotals,
    /// Inline SVG and its legend (HTML).
    pub cost_chart: String,
    pub cost_legend: String,
    pub token_chart: String,
    pub token_legend: String,
    pub rows: Vec<UsageRow>,
    pub csv_href: String,
    pub requests_href: String,
}

#[derive(Serialize)]
pub struct UsageTotals {
    pub requests: String,
    pub errors: String,
    pub input: String,
    pub cached: String,
    pub output: String,
    pub tokens: String,
    pub cost: String,
}

/// A row of the table: a model, project or key.
#[derive(Serialize)]
pub struct UsageRow {
    pub label: String,
    /// The project's id (a table by project).
    pub id: Option<String>,
    pub requests: String,
    pub errors: String,
    pub input: String,
    pub cached: String,
    pub output: String,
    pub cost: String,
}

/// The request log.
#[derive(Serialize)]
pub struct RequestsPage<'a> {
    pub rows: Vec<RequestRow<'a>>,
    pub next_href: Option<String>,
    pub paged: bool,
    pub filter: RequestsFilter<'a>,
    pub projects: Vec<ProjectOption<'a>>,
}

#[derive(Serialize)]
pub struct RequestRow<'a> {
    pub id: &'a str,
    pub time: String,
    pub project: String,
    pub key_id: &'a str,
    pub model: &'a str,
    pub status: &'a str,
    pub error: bool,
    pub input: String,
    pub output: String,
    pub cost: String,
    pub latency: Option<i64>,
    pub ttft: Option<i64>,
}

/// The filters applied.
#[derive(Serialize)]
pub struct RequestsFilter<'a> {
    pub status: Option<&'a str>,
    pub model: Option<&'a str>,
    pub key_id: Option<&'a str>,
    pub project_id: Option<&'a str>,
}

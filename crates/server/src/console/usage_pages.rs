//! The Usage page (charts of cost and tokens per day, totals, a table by model, project or key,
//! CSV of what is shown) and the request log page. Both read through the same service as the
//! JSON API, so a project member sees their projects only.

use crate::console::PagePath;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tollgate_domain::{OrgId, ProjectId};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tollgate_domain::clock::to_datetime;
use tollgate_domain::{Money, Timestamp};
use tollgate_store::{UsageDim, DAY_MS};

use crate::app::App;
use crate::console::charts::{legend, stacked_bars, Series};
use crate::console::contexts::usage::{
    ProjectOption, RequestRow, RequestsFilter, RequestsPage, UsagePage, UsageRow, UsageTotals,
};
use crate::console::page::Section;
use crate::console::{urlencode, PageSession};
use crate::service::analytics::{parse_instant, RequestFilter, UsageFilter, MAX_RANGE_DAYS};
use crate::service::{ServiceError, ServiceResult};

#[derive(Deserialize, Default)]
pub struct UsageQuery {
    /// `today`, `7d`, `30d` (default), `month`, `custom`.
    range: Option<String>,
    /// Custom range: first and last day shown (both included), YYYY-MM-DD.
    from: Option<String>,
    to: Option<String>,
    /// The table: `model` (default), `project` or `key`.
    table: Option<String>,
    project_id: Option<String>,
}

use crate::console::numbers::{count, dollars as usd};
use crate::console::page::org_page;
use crate::console::service_error_page;
use crate::time::{day, second};

pub(crate) fn date(ms: Timestamp) -> String {
    to_datetime(ms).format("%Y-%m-%d").to_string()
}

/// `[start, end)` of a named range, in whole UTC days ending with today.
fn range_of(q: &UsageQuery, now: Timestamp) -> ServiceResult<(String, Timestamp, Timestamp)> {
    let today = now - now.rem_euclid(DAY_MS);
    let end = today + DAY_MS;
    let name = q.range.as_deref().unwrap_or("30d");
    let start = match name {
        "today" => today,
        "7d" => today - 6 * DAY_MS,
        "30d" => today - 29 * DAY_MS,
        "month" => {
            let d = to_datetime(now);
            parse_instant("start", &d.format("%Y-%m-01").to_string())?
        }
        "custom" => {
            let from = parse_instant("from", q.from.as_deref().unwrap_or_default())?;
            let to = parse_instant("to", q.to.as_deref().unwrap_or_default())?;
            let end = to + DAY_MS;
            if end <= from || end - from > MAX_RANGE_DAYS * DAY_MS {
                return Err(ServiceError::BadRequest {
                    code: "invalid_range",
                    message: format!(
                        "The last day must not be before the first, and a range covers at most {MAX_RANGE_DAYS} days."
                    ),
                });
            }
            return Ok((name.to_owned(), from, end));
        }
        _ => {
            return Err(ServiceError::BadRequest {
                code: "invalid_range",
                message: "Unknown range.".to_owned(),
            })
        }
    };
    Ok((name.to_owned(), start, end))
}

pub async fn usage(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    PagePath(org_id): PagePath<OrgId>,
    Query(q): Query<UsageQuery>,
) -> Response {
    let org = match app.org_access(&session.user, &org_id).await {
        Ok(m) => m,
        Err(e) => return service_error_page(&app, e),
    };
    let ctx = match usage_context(&app, &session.user, &org_id, &q).await {
        Ok(ctx) => ctx,
        Err(e) => return service_error_page(&app, e),
    };
    org_page(
        &app,
        &session,
        &org,
        Section::Usage,
        "usage.html",
        StatusCode::OK,
        &ctx,
    )
    .await
}

/// The Usage page's context.
pub async fn usage_context<'q>(
    app: &App,
    user: &tollgate_store::User,
    org_id: &OrgId,
    q: &'q UsageQuery,
) -> ServiceResult<UsagePage<'q>> {
    let (range, start, end) = range_of(q, app.now())?;
    let table = match q.table.as_deref().unwrap_or("model") {
        "model" => UsageDim::Model,
        "project" => UsageDim::Project,
        "key" => UsageDim::Key,
        _ => {
            return Err(ServiceError::BadRequest {
                code: "invalid_group_by",
                message: "The table is by model, project or key.".to_owned(),
            })
        }
    };
    let filter = |group_by: Vec<UsageDim>| UsageFilter {
        start,
        end,
        group_by,
        project_id: q.project_id.clone(),
        ..UsageFilter::default()
    };
    let by_day_model = app
        .usage_report(user, org_id, &filter(vec![UsageDim::Day, UsageDim::Model]))
        .await?;
    let by_table = app.usage_report(user, org_id, &filter(vec![table])).await?;

    let days: Vec<Timestamp> = (0..(end - start) / DAY_MS)
        .map(|i| start + i * DAY_MS)
        .collect();
    let labels: Vec<String> = days
        .iter()
        .map(|d| to_datetime(*d).format("%b %-d").to_string())
        .collect();
    let index: HashMap<Timestamp, usize> = days.iter().enumerate().map(|(i, d)| (*d, i)).collect();
    let mut cost_by_model: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut input = vec![0i64; days.len()];
    let mut output = vec![0i64; days.len()];
    for g in &by_day_model.groups {
        let Some(i) = g.time.and_then(|t| index.get(&t).copied()) else {
            continue;
        };
        let model = g.model.clone().unwrap_or_default();
        let values = cost_by_model
            .entry(model)
            .or_insert_with(|| vec![0; days.len()]);
        values[i] = values[i].saturating_add(g.totals.cost().micros());
        input[i] = input[i].saturating_add(g.totals.input_tokens);
        output[i] = output[i].saturating_add(g.totals.output_tokens);
    }
    let cost_series: Vec<Series> = cost_by_model
        .into_iter()
        .map(|(name, values)| Series { name, values })
        .collect();
    let token_series = vec![
        Series {
            name: "Input tokens".to_owned(),
            values: input,
        },
        Series {
            name: "Output tokens".to_owned(),
            values: output,
        },
    ];
    let tokens = |v: i64| count(v);
    let names = project_names(app, user, org_id).await?;
    let rows = by_table
        .groups
        .iter()
        .map(|g| {
            let (label, id) = match table {
                UsageDim::Model => (g.model.clone().unwrap_or_default(), None),
                UsageDim::Project => {
                    let id = g.project_id.as_ref().map_or("", ProjectId::as_str);
                    (
                        names.get(id).cloned().unwrap_or_else(|| id.to_owned()),
                        Some(id.to_owned()),
                    )
                }
                _ => (g.key_id.clone().unwrap_or_default(), None),
            };
            UsageRow {
                label,
                id,
                requests: count(g.totals.requests),
                errors: count(g.totals.errors),
                input: count(g.totals.input_tokens),
                cached: count(g.totals.cached_input_tokens),
                output: count(g.totals.output_tokens),
                cost: usd(g.totals.cost()),
            }
        })
        .collect();
    let t = &by_day_model.totals;
    let project_q = q
        .project_id
        .as_deref()
        .map(|p| format!("&project_id={}", urlencode(p)))
        .unwrap_or_default();
    let csv = format!(
        "/api/v1/orgs/{org_id}/usage?start={}&end={}&group_by=day&group_by={}{project_q}&format=csv",
        date(start),
        date(end),
        table.as_str()
    );
    let has_usage = t.requests > 0;
    let requests_q = q
        .project_id
        .as_deref()
        .map(|p| format!("?project_id={}", urlencode(p)))
        .unwrap_or_default();
    Ok(UsagePage {
        range,
        from: date(start),
        to: date(end - DAY_MS),
        from_shown: day(start),
        to_shown: day(end - DAY_MS),
        table: table.as_str(),
        project_id: q.project_id.as_deref(),
        has_usage,
        totals: UsageTotals {
            requests: count(t.requests),
            errors: count(t.errors),
            input: count(t.input_tokens),
            cached: count(t.cached_input_tokens),
            output: count(t.output_tokens),
            tokens: count(t.input_tokens.saturating_add(t.output_tokens)),
            cost: usd(t.cost()),
        },
        cost_chart: stacked_bars("Cost per day by model", &labels, &cost_series, &|v| {
            usd(Money::from_micros(v))
        }),
        cost_legend: legend(&cost_series),
        token_chart: stacked_bars(
            "Tokens per day, input and output",
            &labels,
            &token_series,
            &tokens,
        ),
        token_legend: legend(&token_series),
        rows,
        csv_href: csv,
        requests_href: format!("/o/{org_id}/usage/requests{requests_q}"),
    })
}

async fn project_names(
    app: &App,
    user: &tollgate_store::User,
    org_id: &OrgId,
) -> ServiceResult<HashMap<ProjectId, String>> {
    let (_, page) = app.list_projects(user, org_id, None, 100).await?;
    Ok(page
        .data
        .into_iter()
        .map(|p| (p.project.id, p.project.name))
        .collect())
}

#[derive(Deserialize, Default)]
pub struct RequestsQuery {
    status: Option<String>,
    model: Option<String>,
    key_id: Option<String>,
    project_id: Option<String>,
    after: Option<String>,
}

fn non_empty(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

pub async fn requests(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    PagePath(org_id): PagePath<OrgId>,
    Query(q): Query<RequestsQuery>,
) -> Response {
    let org = match app.org_access(&session.user, &org_id).await {
        Ok(m) => m,
        Err(e) => return service_error_page(&app, e),
    };
    let filter = RequestFilter {
        status: non_empty(&q.status),
        model: non_empty(&q.model),
        key_id: non_empty(&q.key_id),
        project_id: non_empty(&q.project_id),
    };
    let page = match app
        .request_log(
            &session.user,
            &org_id,
            &filter,
            non_empty(&q.after).as_deref(),
            50,
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return service_error_page(&app, e),
    };
    let names = match project_names(&app, &session.user, &org_id).await {
        Ok(n) => n,
        Err(e) => return service_error_page(&app, e),
    };
    let rows = page
        .data
        .iter()
        .map(|r| RequestRow {
            id: &r.id,
            time: second(r.occurred_at),
            project: names
                .get(&r.project_id)
                .cloned()
                .unwrap_or_else(|| r.project_id.to_string()),
            key_id: &r.key_id,
            model: &r.model,
            status: &r.status,
            error: tollgate_store::is_error_status(&r.status),
            input: count(r.input_tokens),
            output: count(r.output_tokens),
            cost: usd(r.cost),
            latency: r.latency_ms,
            ttft: r.ttft_ms,
        })
        .collect();
    let keep = [
        ("status", &filter.status),
        ("model", &filter.model),
        ("key_id", &filter.key_id),
        ("project_id", &filter.project_id),
    ]
    .iter()
    .filter_map(|(k, v)| v.as_deref().map(|v| format!("{k}={}", urlencode(v))))
    .collect::<Vec<_>>()
    .join("&");
    let next = page.data.last().filter(|_| page.has_more).map(|r| {
        format!(
            "/o/{org_id}/usage/requests?{keep}&after={}",
            urlencode(&r.id)
        )
    });
    let mut projects: Vec<(ProjectId, String)> = names.into_iter().collect();
    projects.sort_by(|a, b| a.1.cmp(&b.1));
    let ctx = RequestsPage {
        rows,
        next_href: next,
        paged: q.after.is_some(),
        filter: RequestsFilter {
            status: filter.status.as_deref(),
            model: filter.model.as_deref(),
            key_id: filter.key_id.as_deref(),
            project_id: filter.project_id.as_deref(),
        },
        projects: projects
            .iter()
            .map(|(id, name)| ProjectOption { id, name })
            .collect(),
    };
    org_page(
        &app,
        &session,
        &org,
        Section::Usage,
        "requests.html",
        StatusCode::OK,
        &ctx,
    )
    .await
}

//! `GET /api/v1/orgs/{org}/usage` (sums by time, model, project, key, plan; JSON or CSV) and
//! `GET /api/v1/orgs/{org}/requests` (the request log).

use crate::api::extract::ApiPath;
use std::sync::Arc;
use tollgate_domain::OrgId;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use tollgate_store::{RequestEntry, UsageDim, UsageGroup, UsageTotals};
use utoipa::{IntoParams, ToSchema};

use crate::api::error::{ApiResult, ErrorBody};
use crate::api::extract::{ApiQuery, ApiSession};
use crate::api::pagination::List;
use crate::api::usage_csv::csv_response;
use crate::app::App;
use crate::service::analytics::{parse_group_by, parse_range, RequestFilter, UsageFilter};
use crate::service::{page_limit, ServiceError};
use crate::time::rfc3339;

/// The query of `GET …/usage` (documentation; it is read as pairs, `group_by` repeatable).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct UsageParams {
    /// Inclusive, UTC: `2026-01-01` or `2026-01-01T13:00:00Z` (a whole hour). Default: 30 days
    /// before `end`.
    start: Option<String>,
    /// Exclusive, like `start`; at most 366 days after it. Default: the end of today (UTC).
    end: Option<String>,
    /// `hour`, `day`, `model`, `project`, `key`, `plan`: repeat it or separate by commas.
    group_by: Option<Vec<String>>,
    project_id: Option<String>,
    key_id: Option<String>,
    model: Option<String>,
    /// `payg` or `subscription`.
    plan: Option<String>,
    /// `json` (default) or `csv` (a download, one row per group).
    format: Option<String>,
}

/// Requests, tokens and cost of one group, or of the whole question.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageSums {
    pub requests: i64,
    /// Requests whose status was not a success.
    pub errors: i64,
    pub input_tokens: i64,
    /// The part of `input_tokens` served from cache.
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    /// USD, a decimal string.
    pub cost: String,
}

impl From<&UsageTotals> for UsageSums {
    fn from(t: &UsageTotals) -> Self {
        Self {
            requests: t.requests,
            errors: t.errors,
            input_tokens: t.input_tokens,
            cached_input_tokens: t.cached_input_tokens,
            output_tokens: t.output_tokens,
            cost: t.cost().to_usd_string(),
        }
    }
}

/// One group: the grouped dimensions (only those asked for) and its sums.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageGroupView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hour: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(flatten)]
    pub sums: UsageSums,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UsageView {
    pub start: String,
    pub end: String,
    pub group_by: Vec<String>,
    /// Ordered by the grouped dimensions; groups with no usage are absent.
    pub data: Vec<UsageGroupView>,
    pub totals: UsageSums,
}

fn group_view(g: &UsageGroup, dims: &[UsageDim]) -> UsageGroupView {
    let time = g.time.map(rfc3339);
    UsageGroupView {
        hour: time.clone().filter(|_| dims.contains(&UsageDim::Hour)),
        day: time.filter(|_| dims.contains(&UsageDim::Day)),
        model: g.model.clone(),
        project_id: g.project_id.as_ref().map(ToString::to_string),
        key_id: g.key_id.clone(),
        plan: g.plan.clone(),
        sums: UsageSums::from(&g.totals),
    }
}

/// The last value of a query parameter.
fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

const USAGE_PARAMS: [&str; 8] = [
    "start",
    "end",
    "group_by",
    "project_id",
    "key_id",
    "model",
    "plan",
    "format",
];

/// Usage of the organization from hourly and daily rollups: org admins see every project,
/// others only theirs (a `project_id` or `key_id` of another project answers 404).
#[utoipa::path(get, path = "/api/v1/orgs/{org}/usage", tag = "usage",
    params(("org" = String, Path, description = "Organization ID"), UsageParams),
    responses(
        (status = 200, body = UsageView, description = "JSON; with `format=csv`, `text/csv` as an attachment"),
        (status = 400, description = "Bad range, grouping or filter", body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn usage(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiQuery(pairs): ApiQuery<Vec<(String, String)>>,
) -> ApiResult<Response> {
    if let Some((unknown, _)) = pairs
        .iter()
        .find(|(k, _)| !USAGE_PARAMS.contains(&k.as_str()))
    {
        return Err(ServiceError::BadRequest {
            code: "unknown_parameter",
            message: format!("Unknown query parameter `{unknown}`."),
        }
        .into());
    }
    let csv = match param(&pairs, "format") {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(ServiceError::BadRequest {
                code: "invalid_format",
                message: "`format` is json or csv.".to_owned(),
            }
            .into())
        }
    };
    let (start, end) = parse_range(param(&pairs, "start"), param(&pairs, "end"), app.now())?;
    let group_by = parse_group_by(
        pairs
            .iter()
            .filter(|(k, _)| k == "group_by")
            .map(|(_, v)| v.as_str()),
    )?;
    let filter = UsageFilter {
        start,
        end,
        group_by,
        project_id: param(&pairs, "project_id").map(str::to_owned),
        key_id: param(&pairs, "key_id").map(str::to_owned),
        model: param(&pairs, "model").map(str::to_owned),
        plan: param(&pairs, "plan").map(str::to_owned),
    };
    if csv {
        let name = format!(
            "usage-{}-{}.csv",
            &rfc3339(start)[..10],
            &rfc3339(end)[..10]
        );
        let dims = filter.group_by.clone();
        let groups = app
            .usage_groups_stream(&session.user, &org_id, filter)
            .await?;
        return Ok(csv_response(&name, dims, groups));
    }
    let report = app.usage_report(&session.user, &org_id, &filter).await?;
    Ok(Json(UsageView {
        start: rfc3339(start),
        end: rfc3339(end),
        group_by: filter
            .group_by
            .iter()
            .map(|d| d.as_str().to_owned())
            .collect(),
        data: report
            .groups
            .iter()
            .map(|g| group_view(g, &filter.group_by))
            .collect(),
        totals: UsageSums::from(&report.totals),
    })
    .into_response())
}

#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RequestParams {
    /// `success` (ok or 2xx), `error` (anything else), `4xx` or `5xx`.
    pub status: Option<String>,
    pub model: Option<String>,
    pub key_id: Option<String>,
    pub project_id: Option<String>,
    /// 1–100, default 20.
    pub limit: Option<i64>,
    /// The id of the last request of the previous page.
    pub after: Option<String>,
}

/// One request of the log.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    /// The request id (pass as `after` for older requests).
    pub id: String,
    pub time: String,
    pub project_id: String,
    pub key_id: String,
    pub model: String,
    /// `ok`, an HTTP status or an error name, as recorded.
    pub status: String,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    /// USD, a decimal string.
    pub cost: String,
    /// `payg` or `subscription`.
    pub plan: String,
    pub latency_ms: Option<i64>,
    /// Time to the first token of a streamed answer, in milliseconds (none when not streamed).
    pub ttft_ms: Option<i64>,
}

impl From<RequestEntry> for RequestView {
    fn from(r: RequestEntry) -> Self {
        Self {
            id: r.id,
            time: rfc3339(r.occurred_at),
            project_id: r.project_id.into_string(),
            key_id: r.key_id,
            model: r.model,
            status: r.status,
            input_tokens: r.input_tokens,
            cached_input_tokens: r.cached_input_tokens,
            output_tokens: r.output_tokens,
            cost: r.cost.to_usd_string(),
            plan: r.plan,
            latency_ms: r.latency_ms,
            ttft_ms: r.ttft_ms,
        }
    }
}

/// The request log, newest first (raw records, kept `usage_retention_days`). Org admins see
/// every project, others only theirs.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/requests", tag = "usage",
    params(("org" = String, Path, description = "Organization ID"), RequestParams),
    responses(
        (status = 200, body = List<RequestView>),
        (status = 400, body = ErrorBody),
        (status = 404, body = ErrorBody),
    ))]
pub async fn requests(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiQuery(params): ApiQuery<RequestParams>,
) -> ApiResult<Json<List<RequestView>>> {
    let limit = page_limit(params.limit).map_err(ServiceError::from)?;
    let filter = RequestFilter {
        project_id: params.project_id,
        key_id: params.key_id,
        model: params.model,
        status: params.status,
    };
    let page = app
        .request_log(
            &session.user,
            &org_id,
            &filter,
            params.after.as_deref(),
            limit,
        )
        .await?;
    Ok(Json(List::from_page(page, RequestView::from)))
}

//! Usage shown on pages other than Usage: a project's card on its page (the last 30 days'
//! totals and a sparkline of cost per day) and each key's spend this month and last use in the
//! API Keys table. Both read the rollups, never raw records.

use std::collections::HashMap;
use tollgate_domain::ProjectId;
use tollgate_domain::{ApiKeyId, OrgId};

use tollgate_domain::payment::month_start;
use tollgate_domain::{Money, Timestamp};
use tollgate_store::{ApiKey, UsageDim, DAY_MS};

use crate::app::App;
use crate::console::charts::sparkline;
use crate::console::contexts::project::UsageCard;
use crate::console::numbers::dollars as usd;
use crate::console::usage_pages::date;
use crate::service::analytics::UsageFilter;
use crate::service::ServiceResult;

/// Cost per day of the 30 days up to today, from a report grouped by day.
pub fn daily_costs(
    groups: &[tollgate_store::UsageGroup],
    start: Timestamp,
    days: usize,
) -> Vec<i64> {
    let mut values = vec![0i64; days];
    for g in groups {
        let slot = g
            .time
            .and_then(|t| usize::try_from((t - start) / DAY_MS).ok())
            .and_then(|i| values.get_mut(i));
        if let Some(v) = slot {
            *v = v.saturating_add(g.totals.cost().micros());
        }
    }
    values
}

/// The project page's usage card (`project_usage.html`): the last 30 days of one project.
pub async fn project_usage(
    app: &App,
    user: &tollgate_store::User,
    org_id: &OrgId,
    project_id: &ProjectId,
) -> ServiceResult<UsageCard> {
    let now = app.now();
    let end = now - now.rem_euclid(DAY_MS) + DAY_MS;
    let start = end - 30 * DAY_MS;
    let report = app
        .usage_report(
            user,
            org_id,
            &UsageFilter {
                start,
                end,
                group_by: vec![UsageDim::Day],
                project_id: Some(project_id.to_string()),
                ..UsageFilter::default()
            },
        )
        .await?;
    let values = daily_costs(&report.groups, start, 30);
    let labels: Vec<String> = (0..30).map(|i| date(start + i * DAY_MS)).collect();
    let t = &report.totals;
    Ok(UsageCard {
        requests: t.requests,
        errors: t.errors,
        tokens: t.input_tokens.saturating_add(t.output_tokens),
        cost: usd(t.cost()),
        sparkline: sparkline(
            "Cost per day of this project, last 30 days",
            &labels,
            &values,
            &|v| usd(Money::from_micros(v)),
        ),
    })
}

/// Each listed key's spend this month (UTC) and last use, by key id (`api_key_usage.html`).
/// The caller has already checked that the keys are visible to the user.
pub async fn key_usage(
    app: &App,
    org_id: &OrgId,
    keys: &[ApiKey],
) -> ServiceResult<HashMap<ApiKeyId, (String, Option<Timestamp>)>> {
    let ids: Vec<ApiKeyId> = keys.iter().map(|k| k.id.clone()).collect();
    let found = app
        .store
        .key_usage_since(org_id, &ids, month_start(app.now()))
        .await?;
    let by_id: HashMap<&str, &tollgate_store::KeyUsage> =
        found.iter().map(|u| (u.key_id.as_str(), u)).collect();
    Ok(keys
        .iter()
        .map(|k| {
            let used = by_id.get(k.id.as_str());
            let spend = used.map_or(Money::ZERO, |u| u.cost_since());
            // The gateway's own mark and the rollups (which also count reported usage).
            let last = match (k.last_used_at, used.map(|u| u.last_at)) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            (k.id.clone(), (usd(spend), last))
        })
        .collect())
}

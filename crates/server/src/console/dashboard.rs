//! The Overview as a dashboard: usage (spend this month vs last, requests today, a 30-day cost
//! sparkline; the caller's projects only), billing for those who may see it (balance,
//! available credit, active subscriptions) and the "getting started" checklist, whose steps
//! tick themselves off and are shown only to those who can take them.

use chrono::Months;
use serde::Serialize;
use tollgate_domain::clock::to_datetime;
use tollgate_domain::payment::month_start;
use tollgate_domain::{
    allows, allows_in_project, Money, OrgAction, OrgId, ProjectAction, Timestamp,
};
use tollgate_store::{Membership, UsageDim, DAY_MS};

use crate::app::App;
use crate::console::charts::sparkline;
use crate::console::numbers::dollars as usd;
use crate::console::urlencode;
use crate::console::usage_pages::date;
use crate::console::usage_panels::daily_costs;
use crate::service::analytics::UsageFilter;
use crate::service::ServiceResult;

/// The Overview's usage card (`usage` in `overview.html`).
#[derive(Serialize)]
pub struct UsageCard {
    spend_this_month: String,
    spend_last_month: String,
    requests_today: i64,
    /// Inline SVG.
    sparkline: String,
}

/// The Overview's billing card (`billing` in `overview_billing.html`).
#[derive(Serialize)]
pub struct BillingCard {
    balance: String,
    available: String,
    negative: bool,
    subscriptions: Vec<ActiveSubscription>,
}

#[derive(Serialize)]
struct ActiveSubscription {
    model: String,
    tier: String,
    status: &'static str,
    renews: String,
    ends: bool,
}

/// A step of the "getting started" checklist (`steps` in `overview_steps.html`).
#[derive(Serialize)]
pub struct Step {
    id: &'static str,
    title: &'static str,
    text: &'static str,
    href: String,
    done: bool,
}

/// The usage card: spend this month and last, requests today, a 30-day sparkline of cost.
pub async fn overview_usage(
    app: &App,
    user: &tollgate_store::User,
    org_id: &OrgId,
) -> ServiceResult<UsageCard> {
    let now = app.now();
    let today = now - now.rem_euclid(DAY_MS);
    let month = month_start(now);
    let last_month = to_datetime(month)
        .checked_sub_months(Months::new(1))
        .map_or(month, |d| d.timestamp_millis());
    let total = |start: Timestamp, end: Timestamp| {
        let filter = UsageFilter {
            start,
            end,
            ..UsageFilter::default()
        };
        async move {
            app.usage_report(user, org_id, &filter)
                .await
                .map(|r| r.totals)
        }
    };
    let spend = total(month, today + DAY_MS).await?;
    let last = total(last_month, month).await?;
    let today_totals = total(today, today + DAY_MS).await?;
    let start = today - 29 * DAY_MS;
    let daily = app
        .usage_report(
            user,
            org_id,
            &UsageFilter {
                start,
                end: today + DAY_MS,
                group_by: vec![UsageDim::Day],
                ..UsageFilter::default()
            },
        )
        .await?;
    let values = daily_costs(&daily.groups, start, 30);
    let labels: Vec<String> = (0..30).map(|i| date(start + i * DAY_MS)).collect();
    Ok(UsageCard {
        spend_this_month: usd(spend.cost()),
        spend_last_month: usd(last.cost()),
        requests_today: today_totals.requests,
        sparkline: sparkline("Cost per day, last 30 days", &labels, &values, &|v| {
            usd(Money::from_micros(v))
        }),
    })
}

/// Balance, available credit and active subscriptions: for those who manage billing, else
/// `None`.
pub async fn overview_billing(
    app: &App,
    user: &tollgate_store::User,
    membership: &Membership,
) -> ServiceResult<Option<BillingCard>> {
    if !allows(membership.role, OrgAction::ManageBilling) {
        return Ok(None);
    }
    let org_id = &membership.org.id;
    let account = app.billing_overview(user, org_id).await?.account;
    let subscriptions = app
        .list_subscriptions(user, org_id)
        .await?
        .into_iter()
        .filter(|s| s.status.entitles())
        .map(|s| ActiveSubscription {
            status: s.status.as_str(),
            renews: date(s.current_period_end),
            ends: s.cancel_at_period_end,
            model: s.model,
            tier: s.tier,
        })
        .collect();
    Ok(Some(BillingCard {
        balance: usd(account.balance),
        available: usd(account.available()),
        negative: account.available().is_negative(),
        subscriptions,
    }))
}

/// The checklist's steps this user can take, each with its link and whether it is done.
pub async fn getting_started(
    app: &App,
    user: &tollgate_store::User,
    membership: &Membership,
    member_count: i64,
) -> ServiceResult<Vec<Step>> {
    let org_id = &membership.org.id;
    let base = format!("/o/{}", urlencode(org_id));
    let done = app.store.first_steps(org_id).await?;
    let (_, projects) = app.list_projects(user, org_id, None, 100).await?;
    let manages_keys = projects.data.iter().any(|p| {
        !p.project.is_archived()
            && allows_in_project(membership.role, p.role, ProjectAction::ManageKeys)
    });
    let first_project = projects
        .data
        .iter()
        .find(|p| p.project.is_default)
        .or_else(|| projects.data.first())
        .map(|p| format!("{base}/projects/{}", urlencode(&p.project.id)));
    let mut steps = Vec::new();
    let mut step = |id, title, text, href, done| {
        steps.push(Step {
            id,
            title,
            text,
            href,
            done,
        });
    };
    if manages_keys {
        step(
            "step-key",
            "Create an API key",
            "Keys authenticate your requests to the inference API.",
            format!("{base}/api-keys"),
            done.key_created,
        );
    }
    if allows(membership.role, OrgAction::ManageBilling) {
        step(
            "step-credits",
            "Add credits",
            "Top up your balance to start sending requests.",
            format!("{base}/billing/payg"),
            done.credits_added,
        );
    }
    if let Some(href) = first_project {
        step(
            "step-request",
            "Make your first request",
            "Any OpenAI SDK works: the project page shows the base URL and an example.",
            href,
            done.first_request,
        );
    }
    if allows(membership.role, OrgAction::ManageMembers) {
        step(
            "step-invite",
            "Invite your team",
            "Add colleagues so they can manage keys and see usage.",
            format!("{base}/members"),
            member_count > 1,
        );
    }
    Ok(steps)
}

//! The Subscriptions tab: every model with its tiers side by side, what the organization has,
//! and Subscribe / Change / Cancel. Subscribe and an upgrade first show what they charge and on
//! which card, and charge only once that amount is confirmed.

use crate::console::PagePath;
use std::sync::Arc;
use tollgate_domain::{OrgId, SubscriptionId};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use tollgate_domain::subscription::day_label;
use tollgate_domain::OrgAction;

use crate::api::models::LimitsView;
use crate::app::App;
use crate::auth::{ClientInfo, CurrentSession};
use crate::console::charge_pages::{
    charged_sentence, confirm_dialog, confirmed, payment_since, ConfirmDialog,
};
use crate::console::form_guard::{csrf_field, CheckedForm, CsrfForm};
use crate::console::page::org_page;
use crate::console::page::Section;
use crate::console::service_error_page;
use crate::console::{urlencode, PageSession};
use crate::service::subscriptions::SOLD_OUT_CONTACT;
use crate::service::ServiceError;

#[derive(Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
    payment: Option<String>,
}

fn notice_text(key: Option<&str>) -> Option<&'static str> {
    match key? {
        "subscribed" => Some("Subscribed."),
        "changed" => Some("Subscription changed."),
        "kept" => Some("The subscription stays on its current tier."),
        "canceled" => Some("The subscription will end at the end of its period."),
        "resumed" => Some("The subscription will renew."),
        _ => None,
    }
}

/// `subscriptions.html`.
#[derive(Serialize)]
struct SubscriptionsPage<'a> {
    models: Vec<ModelCard<'a>>,
    has_card: bool,
    contact: &'static str,
    notice: Option<&'a str>,
    error: Option<String>,
    confirm: Option<ConfirmDialog<'a>>,
}

/// A model with its tiers, and the organization's subscription to it.
#[derive(Serialize)]
struct ModelCard<'a> {
    id: &'a str,
    name: &'a str,
    tiers: Vec<TierCard<'a>>,
    sub: Option<SubscriptionCard<'a>>,
}

#[derive(Serialize)]
struct TierCard<'a> {
    id: &'a str,
    name: &'a str,
    monthly_price: String,
    limits: LimitsView,
    sold_out: bool,
    current: bool,
}

#[derive(Serialize)]
struct SubscriptionCard<'a> {
    id: &'a str,
    tier: &'a str,
    tier_name: String,
    status: &'static str,
    pending_tier: Option<&'a str>,
    pending_tier_name: Option<String>,
    cancel_at_period_end: bool,
    period_end: String,
    changes_on: String,
}

async fn render(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<String>,
    confirm: Option<ConfirmDialog<'_>>,
) -> Response {
    let org = match app
        .org_access_for(&session.user, org_id, OrgAction::ManageBilling)
        .await
    {
        Ok(m) => m,
        Err(e) => return service_error_page(app, e),
    };
    let (subs, availability, profile) = match tokio::try_join!(
        async { Ok::<_, ServiceError>(app.store.subscriptions(org_id).await?) },
        app.tier_availability(),
        async { Ok::<_, ServiceError>(app.store.billing_profile(org_id).await?) },
    ) {
        Ok(x) => x,
        Err(e) => return service_error_page(app, e),
    };
    let catalog = app.catalog.current();
    let models = catalog
        .models()
        .iter()
        .map(|m| {
            let sub = subs
                .iter()
                .find(|s| s.model == m.id && s.status.as_str() != "canceled");
            let tier_name = |id: &str| {
                m.tiers
                    .iter()
                    .find(|t| t.id == id)
                    .map_or(id.to_owned(), |t| t.name.clone())
            };
            ModelCard {
                id: &m.id,
                name: &m.name,
                tiers: m
                    .tiers
                    .iter()
                    .map(|t| TierCard {
                        id: &t.id,
                        name: &t.name,
                        monthly_price: crate::console::numbers::usd(t.monthly_price),
                        limits: LimitsView::from(&t.limits),
                        sold_out: availability.sold_out(m, t),
                        current: sub.is_some_and(|s| s.tier == t.id),
                    })
                    .collect(),
                sub: sub.map(|s| SubscriptionCard {
                    id: &s.id,
                    tier: &s.tier,
                    tier_name: tier_name(&s.tier),
                    status: s.status.as_str(),
                    pending_tier: s.pending_tier.as_deref(),
                    pending_tier_name: s.pending_tier.as_deref().map(tier_name),
                    cancel_at_period_end: s.cancel_at_period_end,
                    period_end: day_label(s.current_period_end),
                    changes_on: day_label(s.current_period_end),
                }),
            }
        })
        .collect();
    let page = SubscriptionsPage {
        models,
        has_card: profile.card.is_some(),
        contact: SOLD_OUT_CONTACT,
        notice,
        error,
        confirm,
    };
    org_page(
        app,
        session,
        &org,
        Section::Billing,
        "subscriptions.html",
        status,
        &page,
    )
    .await
}

pub async fn page(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    PagePath(org_id): PagePath<OrgId>,
    Query(q): Query<NoticeQuery>,
) -> Response {
    let charged = charged_sentence(&app, &org_id, q.payment.as_deref()).await;
    let notice = match (notice_text(q.notice.as_deref()), charged) {
        (Some(n), Some(c)) => Some(format!("{n} {c}")),
        (n, c) => n.map(str::to_owned).or(c),
    };
    render(
        &app,
        &session,
        &org_id,
        StatusCode::OK,
        notice.as_deref(),
        None,
        None,
    )
    .await
}

#[derive(Deserialize)]
pub struct SubscribeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    expected_amount: String,
}

/// After a change: back to the page with a notice (and the payment it made, which the page
/// describes), or the page again with the error.
async fn outcome(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
    result: Result<Option<String>, ServiceError>,
    notice: &str,
) -> Response {
    match result {
        Ok(payment) => Redirect::to(&format!(
            "/o/{}/subscriptions?notice={notice}{}",
            urlencode(org_id),
            payment.map_or_else(String::new, |p| format!("&payment={}", urlencode(&p)))
        ))
        .into_response(),
        Err(
            e
            @ (ServiceError::Internal(_) | ServiceError::NotFound(_) | ServiceError::Forbidden(_)),
        ) => service_error_page(app, e),
        Err(e) => {
            let status = e.status();
            render(
                app,
                session,
                org_id,
                status,
                None,
                Some(e.public_message()),
                None,
            )
            .await
        }
    }
}

pub async fn subscribe(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath(org_id): PagePath<OrgId>,
    CheckedForm { session, form }: CheckedForm<SubscribeForm>,
) -> Response {
    let preview = match app
        .preview_subscribe(&session.user, &org_id, &form.model, &form.tier)
        .await
    {
        Ok(p) => p,
        Err(e) => return outcome(&app, &session, &org_id, Err(e), "").await,
    };
    if !confirmed(&form.confirm, &form.expected_amount, &preview) {
        let page = format!("/o/{}/subscriptions", urlencode(&org_id));
        let dialog = confirm_dialog(
            "Confirm your subscription",
            &preview,
            &page,
            &[("model", &form.model), ("tier", &form.tier)],
            &page,
            form.confirm == "yes",
        );
        return render(
            &app,
            &session,
            &org_id,
            StatusCode::OK,
            None,
            None,
            Some(dialog),
        )
        .await;
    }
    let result = match app
        .subscribe(&session.user, &org_id, &form.model, &form.tier, &client)
        .await
    {
        Ok(sub) => {
            let key = format!("sub:{}:{}", sub.id, sub.current_period_start);
            Ok(payment_since(&app, &org_id, sub.created_at, |p| p.idempotency_key == key).await)
        }
        Err(e) => Err(e),
    };
    outcome(&app, &session, &org_id, result, "subscribed").await
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    tier: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    expected_amount: String,
}

pub async fn change(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, sub_id)): PagePath<(OrgId, SubscriptionId)>,
    CheckedForm { session, form }: CheckedForm<ChangeForm>,
) -> Response {
    let preview = match app
        .preview_tier_change(&session.user, &org_id, &sub_id, &form.tier)
        .await
    {
        Ok(p) => p,
        Err(e) => return outcome(&app, &session, &org_id, Err(e), "").await,
    };
    if let Some(preview) = preview
        .as_ref()
        .filter(|p| !confirmed(&form.confirm, &form.expected_amount, p))
    {
        let page = format!("/o/{}/subscriptions", urlencode(&org_id));
        let action = format!("{page}/{}/change", urlencode(&sub_id));
        let dialog = confirm_dialog(
            "Confirm the upgrade",
            preview,
            &action,
            &[("tier", &form.tier)],
            &page,
            form.confirm == "yes",
        );
        return render(
            &app,
            &session,
            &org_id,
            StatusCode::OK,
            None,
            None,
            Some(dialog),
        )
        .await;
    }
    let since = app.now();
    let result = match app
        .change_subscription_tier(&session.user, &org_id, &sub_id, &form.tier, &client)
        .await
    {
        Ok(sub) if preview.is_some() => {
            let key = format!("sub:{}:upgrade:{}:", sub.id, form.tier);
            Ok(payment_since(&app, &org_id, since, |p| {
                p.idempotency_key.starts_with(&key)
            })
            .await)
        }
        Ok(_) => Ok(None),
        Err(e) => Err(e),
    };
    let notice = if form.confirm == "keep" {
        "kept"
    } else {
        "changed"
    };
    outcome(&app, &session, &org_id, result, notice).await
}

csrf_field!(SubscribeForm, ChangeForm);

pub async fn cancel(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, sub_id)): PagePath<(OrgId, SubscriptionId)>,
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
) -> Response {
    let result = app
        .set_subscription_cancel(&session.user, &org_id, &sub_id, true, &client)
        .await
        .map(|_| None);
    outcome(&app, &session, &org_id, result, "canceled").await
}

pub async fn resume(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath((org_id, sub_id)): PagePath<(OrgId, SubscriptionId)>,
    CheckedForm { session, .. }: CheckedForm<CsrfForm>,
) -> Response {
    let result = app
        .set_subscription_cancel(&session.user, &org_id, &sub_id, false, &client)
        .await
        .map(|_| None);
    outcome(&app, &session, &org_id, result, "resumed").await
}

//! Billing pages (org admins only): Overview, Pay as you go (Add Credits, auto-recharge, grant
//! history), Payment (the card), Billing address, Receipts. One template, one tab at a time.

use crate::console::PagePath;
use std::sync::Arc;
use tollgate_domain::{OrgId, PaymentId};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use tollgate_domain::country::COUNTRIES;
use tollgate_domain::{new_id, IdPrefix, Money, OrgAction};

use crate::app::App;
use crate::auth::{ClientInfo, CurrentSession};
use crate::console::charge_pages::{
    charged_sentence, confirm_dialog, confirmed, is_auto_recharge, payment_since, plain_amount,
};
use crate::console::form_guard::{csrf_field, CheckedForm};
use crate::console::page::Section;
use crate::console::{urlencode, PageSession};
use crate::payments::{CardDetails, CardForm, CardInput};
use crate::service::billing::AddressInput;
use crate::service::charges::card_label;
use crate::service::ServiceError;
use crate::time::{day, minute};

use crate::api::billing::AddressView;
use crate::console::numbers::usd;

#[derive(Deserialize)]
pub struct Notice {
    notice: Option<String>,
    payment: Option<String>,
}

/// The one sentence a notice code of the redirect stands for.
fn notice_text(code: &str) -> Option<&'static str> {
    Some(match code {
        "credits_added" => "Credits added: they can be used now.",
        "auto_recharge_on" => "Auto-recharge is on.",
        "auto_recharge_off" => "Auto-recharge is off.",
        "card_saved" => "Payment method saved.",
        "address_saved" => "Billing address saved.",
        _ => return None,
    })
}

/// The notice of a page: the code's sentence, then what the payment it names charged.
async fn notice(app: &App, org_id: &OrgId, q: &Notice) -> Option<String> {
    let text = q.notice.as_deref().and_then(notice_text);
    let charged = charged_sentence(app, org_id, q.payment.as_deref()).await;
    match (text, charged) {
        (Some(t), Some(c)) => Some(format!("{t} {c}")),
        (t, c) => t.map(str::to_owned).or(c),
    }
}

/// Renders tab `tab` with the overview's values plus `extra`.
async fn render(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
    tab: &str,
    status: StatusCode,
    extra: Value,
) -> Response {
    let membership = match app
        .org_access_for(&session.user, org_id, OrgAction::ManageBilling)
        .await
    {
        Ok(m) => m,
        Err(e) => return app.service_error_page(e),
    };
    let overview = match app.billing_overview(&session.user, org_id).await {
        Ok(o) => o,
        Err(e) => return app.service_error_page(e),
    };
    let p = &overview.profile;
    let ar = &p.auto_recharge;
    let mut page = json!({
        "tab": tab,
        "balance": usd(overview.account.balance),
        "available": usd(overview.account.available()),
        "negative": overview.account.available().is_negative(),
        "auto_recharge": {"enabled": ar.enabled, "threshold": usd(Money::from_micros(ar.threshold)), "recharge_to": usd(Money::from_micros(ar.recharge_to)),
                          "monthly_cap": ar.monthly_cap.map(|c| usd(Money::from_micros(c))), "failures": ar.failures, "configured": ar.recharge_to > 0},
        "card": p.card.as_ref().map(|c| json!({"label": card_label(&c.brand, &c.last4), "exp": format!("{:02}/{}", c.exp_month, c.exp_year)})),
        "address": p.address.as_ref().map(|a| json!({"name": a.name, "line1": a.line1, "line2": a.line2, "city": a.city,
                          "state": a.state, "postal_code": a.postal_code, "country": a.country})),
        "min_purchase": usd(Money::from_micros(app.config.billing.min_purchase)),
        "max_purchase": usd(Money::from_micros(app.config.billing.max_purchase)),
        "idempotency_key": new_id(IdPrefix::Payment).replacen("pay_", "web_", 1),
        "values": {}, "errors": {},
    });
    match tab {
        "payg" => {
            let grants = app
                .list_credit_grants(&session.user, org_id, None, 100)
                .await
                .map(|g| g.data)
                .unwrap_or_default();
            page["grants"] = json!(grants
                .iter()
                .map(|g| json!({"date": day(g.created_at), "source": g.source.as_str(), "category": g.category.as_str(),
                    "amount": usd(g.amount), "remaining": usd(g.remaining), "expires": g.expires_at.map(day),
                    "description": g.description}))
                .collect::<Vec<_>>());
        }
        "receipts" => {
            let payments = app
                .list_payments(&session.user, org_id, None, 100)
                .await
                .map(|p| p.data)
                .unwrap_or_default();
            page["payments"] = json!(payments
                .iter()
                .map(|p| json!({"id": p.id, "date": day(p.created_at), "kind": p.kind.as_str(), "amount": usd(p.amount),
                    "status": p.status.as_str(), "description": p.description, "failure": p.failure_message}))
                .collect::<Vec<_>>());
        }
        "payment" => {
            page["card_form"] = match app.payments.card_form() {
                CardForm::Sandbox => json!({"kind": "sandbox"}),
                CardForm::Stripe { publishable_key } => {
                    json!({"kind": "stripe", "publishable_key": publishable_key})
                }
            };
        }
        "address" => {
            page["countries"] = json!(COUNTRIES
                .iter()
                .map(|(c, n)| json!({"code": c, "name": n}))
                .collect::<Vec<_>>());
        }
        _ => {}
    }
    if let (Value::Object(page), Value::Object(extra)) = (&mut page, extra) {
        page.extend(extra);
    }
    app.org_page(
        session,
        &membership,
        Section::Billing,
        "billing.html",
        status,
        page,
    )
    .await
}

macro_rules! tab_page {
    ($name:ident, $tab:literal) => {
        pub async fn $name(
            State(app): State<Arc<App>>,
            PageSession(session): PageSession,
            PagePath(org_id): PagePath<OrgId>,
            Query(q): Query<Notice>,
        ) -> Response {
            let notice = notice(&app, &org_id, &q).await;
            render(
                &app,
                &session,
                &org_id,
                $tab,
                StatusCode::OK,
                json!({"notice": notice}),
            )
            .await
        }
    };
}

tab_page!(overview, "overview");
tab_page!(payg, "payg");
tab_page!(payment, "payment");
tab_page!(address, "address");
tab_page!(receipts, "receipts");

/// A service error shown on the tab the form came from; internal errors get the error page.
async fn form_error(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
    tab: &str,
    values: Value,
    e: ServiceError,
    in_dialog: bool,
) -> Response {
    let (field, message) = match &e {
        ServiceError::Invalid(v) => (v.field.to_owned(), v.message.clone()),
        ServiceError::PaymentRequired { .. }
        | ServiceError::Conflict { .. }
        | ServiceError::BadRequest { .. } => ("form".to_owned(), e.public_message()),
        _ => return app.service_error_page(e),
    };
    render(
        app,
        session,
        org_id,
        tab,
        e.status(),
        json!({"values": values, "errors": {field: message}, "dialog_open": in_dialog}),
    )
    .await
}

csrf_field!(BuyForm, AutoRechargeForm, CardFormInput, AddressForm);

#[derive(Deserialize)]
pub struct BuyForm {
    csrf: String,
    amount: String,
    idempotency_key: String,
    #[serde(default)]
    enable_auto_recharge: Option<String>,
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    recharge_to: String,
}

pub async fn buy(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath(org_id): PagePath<OrgId>,
    CheckedForm { session, form }: CheckedForm<BuyForm>,
) -> Response {
    let values = json!({"amount": form.amount, "threshold": form.threshold, "recharge_to": form.recharge_to,
                        "enable_auto_recharge": form.enable_auto_recharge.is_some()});
    let payment = match app
        .buy_credits(
            &session.user,
            &org_id,
            &plain_amount(&form.amount),
            &form.idempotency_key,
            &client,
        )
        .await
    {
        Ok(p) => p,
        Err(e) => return form_error(&app, &session, &org_id, "payg", values, e, true).await,
    };
    if form.enable_auto_recharge.is_some() {
        if let Err(e) = app
            .set_auto_recharge(
                &session.user,
                &org_id,
                true,
                &plain_amount(&form.threshold),
                &plain_amount(&form.recharge_to),
                None,
                &client,
            )
            .await
        {
            return form_error(&app, &session, &org_id, "payg", values, e, true).await;
        }
    }
    Redirect::to(&format!(
        "/o/{}/billing/payg?notice=credits_added&payment={}",
        urlencode(&org_id),
        urlencode(&payment.id)
    ))
    .into_response()
}

#[derive(Deserialize)]
pub struct AutoRechargeForm {
    csrf: String,
    enabled: String,
    threshold: String,
    recharge_to: String,
    /// Empty: no cap. Absent (an older form): the cap stays.
    #[serde(default)]
    monthly_cap: Option<String>,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    expected_amount: String,
}

pub async fn auto_recharge(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath(org_id): PagePath<OrgId>,
    CheckedForm { session, form }: CheckedForm<AutoRechargeForm>,
) -> Response {
    let enabled = form.enabled == "true";
    let values = json!({"threshold": form.threshold, "recharge_to": form.recharge_to,
                        "monthly_cap": form.monthly_cap});
    if enabled {
        // Turning it on below the threshold charges at once: show that first.
        match app
            .preview_auto_recharge(
                &session.user,
                &org_id,
                &plain_amount(&form.threshold),
                &plain_amount(&form.recharge_to),
                form.monthly_cap.as_deref().map(plain_amount).as_deref(),
            )
            .await
        {
            Ok(Some(preview)) if !confirmed(&form.confirm, &form.expected_amount, &preview) => {
                let action = format!("/o/{}/billing/auto-recharge", urlencode(&org_id));
                let dialog = confirm_dialog(
                    "Turn on auto-recharge",
                    &preview,
                    &action,
                    &[
                        ("enabled", "true"),
                        ("threshold", &form.threshold),
                        ("recharge_to", &form.recharge_to),
                        // Carried through the confirmation; absent stays absent (the cap stays).
                        ("monthly_cap", form.monthly_cap.as_deref().unwrap_or("")),
                    ][..if form.monthly_cap.is_some() { 4 } else { 3 }],
                    &format!("/o/{}/billing/payg", urlencode(&org_id)),
                    form.confirm == "yes",
                );
                return render(
                    &app,
                    &session,
                    &org_id,
                    "payg",
                    StatusCode::OK,
                    json!({"values": values, "confirm": dialog}),
                )
                .await;
            }
            Ok(_) => {}
            Err(e) => return form_error(&app, &session, &org_id, "payg", values, e, false).await,
        }
    }
    let since = app.now();
    match app
        .set_auto_recharge(
            &session.user,
            &org_id,
            enabled,
            &plain_amount(&form.threshold),
            &plain_amount(&form.recharge_to),
            form.monthly_cap.as_deref().map(plain_amount).as_deref(),
            &client,
        )
        .await
    {
        Ok(_) => {
            let charged = if enabled {
                payment_since(&app, &org_id, since, is_auto_recharge).await
            } else {
                None
            };
            Redirect::to(&format!(
                "/o/{}/billing/payg?notice={}{}",
                urlencode(&org_id),
                if enabled {
                    "auto_recharge_on"
                } else {
                    "auto_recharge_off"
                },
                charged.map_or_else(String::new, |p| format!("&payment={}", urlencode(&p)))
            ))
            .into_response()
        }
        Err(e) => form_error(&app, &session, &org_id, "payg", values, e, false).await,
    }
}

#[derive(Deserialize)]
pub struct CardFormInput {
    csrf: String,
    #[serde(default)]
    card_number: String,
    #[serde(default)]
    exp_month: String,
    #[serde(default)]
    exp_year: String,
    #[serde(default)]
    cvc: String,
    #[serde(default)]
    payment_method_id: String,
}

pub async fn save_card(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath(org_id): PagePath<OrgId>,
    CheckedForm { session, form }: CheckedForm<CardFormInput>,
) -> Response {
    // Only the expiry is echoed back: never the number or the CVC.
    let values = json!({"exp_month": form.exp_month, "exp_year": form.exp_year});
    let input = if !form.payment_method_id.trim().is_empty() {
        CardInput::PaymentMethod {
            payment_method_id: form.payment_method_id.trim().to_owned(),
        }
    } else {
        let number = |field: &'static str, raw: &str| {
            raw.trim().parse::<u32>().map_err(|_| {
                ServiceError::Invalid(tollgate_domain::ValidationError::new(
                    field,
                    "Enter a number.",
                ))
            })
        };
        let parsed = number("exp_month", &form.exp_month)
            .and_then(|m| number("exp_year", &form.exp_year).map(|y| (m, y)));
        match parsed {
            Ok((exp_month, exp_year)) => CardInput::Details(CardDetails {
                card_number: form.card_number.clone(),
                exp_month,
                exp_year,
                cvc: form.cvc.clone(),
            }),
            Err(e) => {
                return form_error(&app, &session, &org_id, "payment", values, e, false).await
            }
        }
    };
    match app
        .save_payment_method(&session.user, &org_id, &input, &client)
        .await
    {
        Ok(_) => {
            Redirect::to(&format!("/o/{org_id}/billing/payment?notice=card_saved")).into_response()
        }
        Err(e) => form_error(&app, &session, &org_id, "payment", values, e, false).await,
    }
}

#[derive(Deserialize)]
pub struct AddressForm {
    csrf: String,
    #[serde(flatten)]
    address: AddressFormFields,
}

#[derive(Deserialize, serde::Serialize)]
pub struct AddressFormFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    country: String,
}

pub async fn save_address(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath(org_id): PagePath<OrgId>,
    CheckedForm { session, form }: CheckedForm<AddressForm>,
) -> Response {
    let a = &form.address;
    let input = AddressInput {
        name: a.name.clone(),
        line1: a.line1.clone(),
        line2: a.line2.clone(),
        city: a.city.clone(),
        state: a.state.clone(),
        postal_code: a.postal_code.clone(),
        country: a.country.clone(),
    };
    match app
        .set_billing_address(&session.user, &org_id, &input, &client)
        .await
    {
        Ok(_) => Redirect::to(&format!("/o/{org_id}/billing/address?notice=address_saved"))
            .into_response(),
        Err(e) => form_error(&app, &session, &org_id, "address", json!(a), e, false).await,
    }
}

pub async fn receipt(
    State(app): State<Arc<App>>,
    PageSession(session): PageSession,
    PagePath((org_id, payment_id)): PagePath<(OrgId, PaymentId)>,
) -> Response {
    let p = match app
        .payment_receipt(&session.user, &org_id, &payment_id)
        .await
    {
        Ok(found) => found,
        Err(e) => return app.service_error_page(e),
    };
    // The address in force when the payment was made, kept on it: never today's.
    let address = p.bill_to.as_ref().map(AddressView::from);
    render(
        &app,
        &session,
        &org_id,
        "receipt",
        StatusCode::OK,
        json!({"receipt": {"id": p.id, "date": minute(p.created_at), "kind": p.kind.as_str(), "amount": usd(p.amount),
            "status": p.status.as_str(), "description": p.description, "payment_method": p.payment_method,
            "failure": p.failure_message, "settled": p.settled_at.map(minute)}, "bill_to": address}),
    )
    .await
}

//! The forms of the billing pages (org admins only): Add Credits, auto-recharge, the card and
//! the billing address. Each posts, then redirects back with a notice; a refused form is drawn
//! again on its tab with its values and errors. Charging forms first show what they charge.

use crate::console::PagePath;
use std::sync::Arc;
use tollgate_domain::OrgId;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::app::App;
use crate::auth::{ClientInfo, CurrentSession};
use crate::console::billing_pages::render;
use crate::console::charge_pages::{
    confirm_dialog, confirmed, is_auto_recharge, payment_since, plain_amount,
};
use crate::console::contexts::billing::{BillingExtra, BillingFields, BillingValues};
use crate::console::form_guard::{csrf_field, CheckedForm};
use crate::console::service_error_page;
use crate::console::urlencode;
use crate::payments::{CardDetails, CardInput};
use crate::service::billing::AddressInput;
use crate::service::ServiceError;

/// A service error shown on the tab the form came from; internal errors get the error page.
async fn form_error(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
    tab: &str,
    values: BillingValues,
    e: ServiceError,
    in_dialog: bool,
) -> Response {
    let errors = match &e {
        ServiceError::Invalid(v) => BillingFields::of(v.field, &v.message),
        ServiceError::PaymentRequired { .. }
        | ServiceError::Conflict { .. }
        | ServiceError::BadRequest { .. } => BillingFields::of("form", e.public_message()),
        _ => return service_error_page(app, e),
    };
    let extra = BillingExtra {
        values,
        errors,
        dialog_open: Some(in_dialog),
        ..BillingExtra::default()
    };
    render(app, session, org_id, tab, e.status(), extra).await
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
    let values = || BillingValues {
        fields: BillingFields {
            amount: Some(form.amount.clone()),
            threshold: Some(form.threshold.clone()),
            recharge_to: Some(form.recharge_to.clone()),
            ..BillingFields::default()
        },
        enable_auto_recharge: Some(form.enable_auto_recharge.is_some()),
    };
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
        Err(e) => return form_error(&app, &session, &org_id, "payg", values(), e, true).await,
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
            return form_error(&app, &session, &org_id, "payg", values(), e, true).await;
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
    let values = || {
        BillingValues::from(BillingFields {
            threshold: Some(form.threshold.clone()),
            recharge_to: Some(form.recharge_to.clone()),
            monthly_cap: form.monthly_cap.clone(),
            ..BillingFields::default()
        })
    };
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
                let cancel = format!("/o/{}/billing/payg", urlencode(&org_id));
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
                    &cancel,
                    form.confirm == "yes",
                );
                let extra = BillingExtra {
                    values: values(),
                    confirm: Some(dialog),
                    ..BillingExtra::default()
                };
                return render(&app, &session, &org_id, "payg", StatusCode::OK, extra).await;
            }
            Ok(_) => {}
            Err(e) => return form_error(&app, &session, &org_id, "payg", values(), e, false).await,
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
        Err(e) => form_error(&app, &session, &org_id, "payg", values(), e, false).await,
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
    let values = || {
        BillingValues::from(BillingFields {
            exp_month: Some(form.exp_month.clone()),
            exp_year: Some(form.exp_year.clone()),
            ..BillingFields::default()
        })
    };
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
                return form_error(&app, &session, &org_id, "payment", values(), e, false).await
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
        Err(e) => form_error(&app, &session, &org_id, "payment", values(), e, false).await,
    }
}

#[derive(Deserialize)]
pub struct AddressForm {
    csrf: String,
    #[serde(flatten)]
    address: AddressFormFields,
}

#[derive(Deserialize)]
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

impl From<AddressFormFields> for AddressInput {
    fn from(a: AddressFormFields) -> Self {
        Self {
            name: a.name,
            line1: a.line1,
            line2: a.line2,
            city: a.city,
            state: a.state,
            postal_code: a.postal_code,
            country: a.country,
        }
    }
}

pub async fn save_address(
    State(app): State<Arc<App>>,
    client: ClientInfo,
    PagePath(org_id): PagePath<OrgId>,
    CheckedForm { session, form }: CheckedForm<AddressForm>,
) -> Response {
    let input = AddressInput::from(form.address);
    match app
        .set_billing_address(&session.user, &org_id, &input, &client)
        .await
    {
        Ok(_) => Redirect::to(&format!("/o/{org_id}/billing/address?notice=address_saved"))
            .into_response(),
        Err(e) => {
            let values = BillingFields::from(input);
            form_error(&app, &session, &org_id, "address", values.into(), e, false).await
        }
    }
}

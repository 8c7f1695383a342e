//! `…/orgs/{org}/billing`: credit, purchases, auto-recharge, card, address, grants and payments
//! (org admins only). Money is a decimal string in USD ("25.00").

use crate::api::extract::ApiPath;
use std::sync::Arc;
use tollgate_domain::{OrgId, PaymentId};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_domain::payment::PaymentStatus;
use tollgate_domain::Money;
use tollgate_store::{Grant, Payment, PostalAddress};
use utoipa::ToSchema;

use crate::api::error::{ApiError, ApiResult, ErrorBody};
use crate::api::extract::{ApiJson, ApiQuery, ApiSession};
use crate::api::pagination::{List, ListParams};
use crate::app::App;
use crate::auth::ClientInfo;
use crate::payments::{CardDetails, CardInput};
use crate::service::billing::{AddressInput, BillingOverview};
use crate::service::charges::card_label;
use crate::time::rfc3339;

#[derive(Serialize, ToSchema)]
pub struct AutoRechargeView {
    pub enabled: bool,
    #[schema(example = "10.00")]
    pub threshold: String,
    #[schema(example = "50.00")]
    pub recharge_to: String,
    /// The most automatic charges may take in a calendar month (UTC); `null`: no cap beyond
    /// the purchase maximum, which bounds every charge.
    #[schema(example = "200.00")]
    pub monthly_cap: Option<String>,
    /// Declined or refused recharges in a row; at 3 auto-recharge turns itself off.
    pub consecutive_failures: i64,
}

#[derive(Serialize, ToSchema)]
pub struct PaymentMethodView {
    #[schema(example = "visa")]
    pub brand: String,
    #[schema(example = "4242")]
    pub last4: String,
    pub exp_month: i64,
    pub exp_year: i64,
    #[schema(example = "Visa ending in 4242")]
    pub label: String,
}

#[derive(Serialize, ToSchema)]
pub struct AddressView {
    pub name: String,
    pub line1: String,
    pub line2: String,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    #[schema(example = "DE")]
    pub country: String,
}

impl From<&PostalAddress> for AddressView {
    fn from(a: &PostalAddress) -> Self {
        Self {
            name: a.name.clone(),
            line1: a.line1.clone(),
            line2: a.line2.clone(),
            city: a.city.clone(),
            state: a.state.clone(),
            postal_code: a.postal_code.clone(),
            country: a.country.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BillingView {
    /// Σ ledger entries; negative when usage outran credit.
    #[schema(example = "25.00")]
    pub balance: String,
    /// Balance minus what requests in flight hold.
    #[schema(example = "24.50")]
    pub available: String,
    pub auto_recharge: AutoRechargeView,
    pub payment_method: Option<PaymentMethodView>,
    pub address: Option<AddressView>,
    /// Smallest and largest purchase.
    #[schema(example = "10.00")]
    pub min_purchase: String,
    #[schema(example = "10000.00")]
    pub max_purchase: String,
}

impl BillingView {
    fn new(app: &App, o: &BillingOverview) -> Self {
        let ar = &o.profile.auto_recharge;
        Self {
            balance: o.account.balance.to_usd_string(),
            available: o.account.available().to_usd_string(),
            auto_recharge: AutoRechargeView {
                enabled: ar.enabled,
                threshold: ar.threshold.to_usd_string(),
                recharge_to: ar.recharge_to.to_usd_string(),
                monthly_cap: ar.monthly_cap.map(Money::to_usd_string),
                consecutive_failures: ar.failures,
            },
            payment_method: o.profile.card.as_ref().map(|c| PaymentMethodView {
                brand: c.brand.clone(),
                last4: c.last4.clone(),
                exp_month: c.exp_month,
                exp_year: c.exp_year,
                label: card_label(&c.brand, &c.last4),
            }),
            address: o.profile.address.as_ref().map(AddressView::from),
            min_purchase: app.config.billing.min_purchase.to_usd_string(),
            max_purchase: app.config.billing.max_purchase.to_usd_string(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct GrantView {
    pub id: String,
    /// `paid` or `promotional`.
    pub category: &'static str,
    /// `purchase`, `auto_recharge`, `promotion`, `refund` or `adjustment`.
    pub source: &'static str,
    #[schema(example = "25.00")]
    pub amount: String,
    #[schema(example = "12.50")]
    pub remaining: String,
    pub description: String,
    pub created_at: String,
    pub expires_at: Option<String>,
}

impl From<&Grant> for GrantView {
    fn from(g: &Grant) -> Self {
        Self {
            id: g.id.clone(),
            category: g.category.as_str(),
            source: g.source.as_str(),
            amount: g.amount.to_usd_string(),
            remaining: g.remaining.to_usd_string(),
            description: g.description.clone(),
            created_at: rfc3339(g.created_at),
            expires_at: g.expires_at.map(rfc3339),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PaymentView {
    #[schema(example = "pay_4f1c2a9e0b7d3c5a1e2f4b6d")]
    pub id: String,
    /// `purchase`, `auto_recharge` or `subscription`.
    pub kind: &'static str,
    #[schema(example = "25.00")]
    pub amount: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: &'static str,
    pub description: String,
    pub payment_method: String,
    /// The billing address when the payment was made (the receipt's); `null` when there was
    /// none.
    pub bill_to: Option<AddressView>,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    /// The grant the payment bought, once it succeeded.
    pub grant_id: Option<String>,
    pub created_at: String,
    pub settled_at: Option<String>,
    /// The receipt page in the console.
    pub receipt_url: String,
}

impl From<&Payment> for PaymentView {
    fn from(p: &Payment) -> Self {
        Self {
            id: p.id.to_string(),
            kind: p.kind.as_str(),
            amount: p.amount.to_usd_string(),
            status: p.status.as_str(),
            description: p.description.clone(),
            payment_method: p.payment_method.clone(),
            bill_to: p.bill_to.as_ref().map(AddressView::from),
            failure_code: p.failure_code.clone(),
            failure_message: p.failure_message.clone(),
            grant_id: p.grant_id.clone(),
            created_at: rfc3339(p.created_at),
            settled_at: p.settled_at.map(rfc3339),
            receipt_url: format!("/o/{}/billing/receipts/{}", p.org_id, p.id),
        }
    }
}

/// Credit balance, available amount, auto-recharge, card and address.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/billing", tag = "billing",
    params(("org" = String, Path, description = "Organization ID")),
    responses((status = 200, body = BillingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(org_id): ApiPath<OrgId>,
) -> ApiResult<Json<BillingView>> {
    let overview = app.billing_overview(&session.user, &org_id).await?;
    Ok(Json(BillingView::new(&app, &overview)))
}

async fn view(
    app: &App,
    user: &tollgate_store::User,
    org_id: &OrgId,
) -> ApiResult<Json<BillingView>> {
    let overview = app.billing_overview(user, org_id).await?;
    Ok(Json(BillingView::new(app, &overview)))
}

/// The credit grant history, newest first, with what remains of each.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/billing/credit-grants", tag = "billing",
    params(("org" = String, Path, description = "Organization ID"), ListParams),
    responses((status = 200, body = List<GrantView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn credit_grants(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<List<GrantView>>> {
    let limit = params.limit()?;
    let page = app
        .list_credit_grants(&session.user, &org_id, params.after.as_deref(), limit)
        .await?;
    Ok(Json(List::from_page(page, |g| GrantView::from(&g))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BuyCreditsRequest {
    /// USD as a decimal string, whole cents, $10 to $10,000 by default.
    #[schema(example = "25.00", pattern = r"^[0-9]{1,12}(\.[0-9]{1,2})?$")]
    pub amount: String,
}

/// Buy credits with the card on file. Requires an `Idempotency-Key` header: the same key with
/// the same body answers the first result and charges once; with another body, 409. A refused
/// card answers 402 (`card_declined`, `insufficient_funds`, …) and changes no balance.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/billing/credits", tag = "billing",
    params(("org" = String, Path, description = "Organization ID"),
        ("Idempotency-Key" = String, Header, description = "1–200 printable ASCII characters, unique per intended purchase")),
    request_body = BuyCreditsRequest,
    responses(
        (status = 201, description = "Paid: the credit is spendable now", body = PaymentView),
        (status = 202, description = "Not settled yet; it will be", body = PaymentView),
        (status = 400, description = "Missing or bad Idempotency-Key", body = ErrorBody),
        (status = 402, description = "The card was refused", body = ErrorBody),
        (status = 403, description = "Not an org admin (`forbidden`), or the caller's email address is not verified yet (`email_not_verified`)", body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Key reused with another body, or no payment method", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn buy_credits(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    headers: HeaderMap,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiJson(body): ApiJson<BuyCreditsRequest>,
) -> ApiResult<(StatusCode, Json<PaymentView>)> {
    let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) else {
        // Permission first: a member learns nothing about the header.
        app.billing_overview(&session.user, &org_id).await?;
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "missing_idempotency_key",
            "Send an Idempotency-Key header (e.g. a UUID) so that a retried purchase is charged once.",
        ));
    };
    let payment = app
        .buy_credits(&session.user, &org_id, &body.amount, key, &client)
        .await?;
    let status = if payment.status == PaymentStatus::Pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(PaymentView::from(&payment))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoRechargeRequest {
    pub enabled: bool,
    /// Recharge when available credit falls below this (USD).
    #[schema(example = "10.00", pattern = r"^[0-9]{1,12}(\.[0-9]{1,6})?$")]
    pub threshold: String,
    /// Top the balance up to this (USD); must exceed the threshold.
    #[schema(example = "50.00", pattern = r"^[0-9]{1,12}(\.[0-9]{1,6})?$")]
    pub recharge_to: String,
    /// The most automatic charges may take in a calendar month (UTC), USD, whole cents from
    /// 0.01 to 1000000. Absent: unchanged; `null` or `""`: no cap.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, example = "200.00")]
    pub monthly_cap: Option<Option<String>>,
}

/// A field that may be absent (`None`), `null` (`Some(None)`) or set.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Turn auto-recharge on or off and set its amounts (needs a payment method to turn on).
#[utoipa::path(put, path = "/api/v1/orgs/{org}/billing/auto-recharge", tag = "billing",
    params(("org" = String, Path, description = "Organization ID")),
    request_body = AutoRechargeRequest,
    responses((status = 200, body = BillingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "No payment method", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_auto_recharge(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiJson(body): ApiJson<AutoRechargeRequest>,
) -> ApiResult<Json<BillingView>> {
    app.set_auto_recharge(
        &session.user,
        &org_id,
        body.enabled,
        &body.threshold,
        &body.recharge_to,
        body.monthly_cap
            .as_ref()
            .map(|cap| cap.as_deref().unwrap_or("")),
        &client,
    )
    .await?;
    view(&app, &session.user, &org_id).await
}

/// The sandbox's typed card, or the id of a PaymentMethod made by Stripe's card form.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentMethodRequest {
    #[schema(example = "4242424242424242")]
    pub card_number: Option<String>,
    pub exp_month: Option<u32>,
    pub exp_year: Option<u32>,
    pub cvc: Option<String>,
    /// stripe: `pm_…` confirmed through a SetupIntent.
    pub payment_method_id: Option<String>,
}

impl PaymentMethodRequest {
    fn into_input(self) -> Result<CardInput, ApiError> {
        let unprocessable =
            |m: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", m);
        match self {
            Self {
                payment_method_id: Some(id),
                card_number: None,
                exp_month: None,
                exp_year: None,
                cvc: None,
            } => Ok(CardInput::PaymentMethod {
                payment_method_id: id,
            }),
            Self {
                payment_method_id: None,
                card_number: Some(card_number),
                exp_month: Some(exp_month),
                exp_year: Some(exp_year),
                cvc: Some(cvc),
            } => Ok(CardInput::Details(CardDetails {
                card_number,
                exp_month,
                exp_year,
                cvc,
            })),
            _ => Err(unprocessable(
                "Send either card_number, exp_month, exp_year and cvc, or payment_method_id.",
            )),
        }
    }
}

/// Add or replace the card on file. Card numbers are never stored: only brand, last four
/// digits and expiry.
#[utoipa::path(put, path = "/api/v1/orgs/{org}/billing/payment-method", tag = "billing",
    params(("org" = String, Path, description = "Organization ID")),
    request_body = PaymentMethodRequest,
    responses((status = 200, body = BillingView), (status = 402, description = "The provider refused the card", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_payment_method(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiJson(body): ApiJson<PaymentMethodRequest>,
) -> ApiResult<Json<BillingView>> {
    app.billing_overview(&session.user, &org_id).await?;
    let input = body.into_input()?;
    app.save_payment_method(&session.user, &org_id, &input, &client)
        .await?;
    view(&app, &session.user, &org_id).await
}

#[derive(Serialize, ToSchema)]
pub struct SetupIntentView {
    pub id: String,
    /// For Stripe.js's `confirmCardSetup`.
    pub client_secret: String,
}

/// stripe only: a SetupIntent for Stripe's card form; confirm it in the browser, then send its
/// PaymentMethod to `PUT …/billing/payment-method`.
#[utoipa::path(post, path = "/api/v1/orgs/{org}/billing/setup-intent", tag = "billing",
    params(("org" = String, Path, description = "Organization ID")),
    responses((status = 200, body = SetupIntentView), (status = 400, description = "The sandbox takes card details directly", body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn setup_intent(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(org_id): ApiPath<OrgId>,
) -> ApiResult<Json<SetupIntentView>> {
    let intent = app.create_setup_intent(&session.user, &org_id).await?;
    Ok(Json(SetupIntentView {
        id: intent.id,
        client_secret: intent.client_secret,
    }))
}

/// Set the billing address (country: ISO 3166-1 alpha-2).
#[utoipa::path(put, path = "/api/v1/orgs/{org}/billing/address", tag = "billing",
    params(("org" = String, Path, description = "Organization ID")),
    request_body = AddressInput,
    responses((status = 200, body = BillingView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_address(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    client: ClientInfo,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiJson(body): ApiJson<AddressInput>,
) -> ApiResult<Json<BillingView>> {
    app.set_billing_address(&session.user, &org_id, &body, &client)
        .await?;
    view(&app, &session.user, &org_id).await
}

/// Payments, newest first: purchases, auto-recharges, subscriptions, with their receipts.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/billing/payments", tag = "billing",
    params(("org" = String, Path, description = "Organization ID"), ListParams),
    responses((status = 200, body = List<PaymentView>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn payments(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath(org_id): ApiPath<OrgId>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<List<PaymentView>>> {
    let limit = params.limit()?;
    let page = app
        .list_payments(&session.user, &org_id, params.after.as_deref(), limit)
        .await?;
    Ok(Json(List::from_page(page, |p| PaymentView::from(&p))))
}

/// One payment.
#[utoipa::path(get, path = "/api/v1/orgs/{org}/billing/payments/{payment}", tag = "billing",
    params(("org" = String, Path, description = "Organization ID"), ("payment" = String, Path, description = "Payment ID")),
    responses((status = 200, body = PaymentView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn payment(
    State(app): State<Arc<App>>,
    ApiSession(session): ApiSession,
    ApiPath((org_id, payment_id)): ApiPath<(OrgId, PaymentId)>,
) -> ApiResult<Json<PaymentView>> {
    let payment = app
        .payment_receipt(&session.user, &org_id, &payment_id)
        .await?;
    Ok(Json(PaymentView::from(&payment)))
}

//! Billing pages (org admins only): Overview, Pay as you go (Add Credits, auto-recharge, grant
//! history), Payment (the card), Billing address, Receipts. One template, one tab at a time.

use crate::console::PagePath;
use std::sync::Arc;
use tollgate_domain::{OrgId, PaymentId};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use tollgate_domain::country::COUNTRIES;
use tollgate_domain::{new_id, IdPrefix, OrgAction};

use crate::app::App;
use crate::auth::CurrentSession;
use crate::console::charge_pages::charged_sentence;
use crate::console::contexts::billing::{
    AutoRechargeView, BillingExtra, BillingPage, CardFormView, CardView, Country, GrantRow,
    PaymentRow, ReceiptView, TabContent,
};
use crate::console::page::Section;
use crate::console::PageSession;
use crate::payments::CardForm;
use crate::service::charges::card_label;
use crate::time::{day, minute};
use tollgate_store::Payment;

use crate::api::billing::AddressView;
use crate::console::numbers::usd;
use crate::console::page::org_page;
use crate::console::service_error_page;

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
pub(super) async fn render(
    app: &App,
    session: &CurrentSession,
    org_id: &OrgId,
    tab: &str,
    status: StatusCode,
    extra: BillingExtra<'_>,
) -> Response {
    let membership = match app
        .org_access_for(&session.user, org_id, OrgAction::ManageBilling)
        .await
    {
        Ok(m) => m,
        Err(e) => return service_error_page(app, e),
    };
    let overview = match app.billing_overview(&session.user, org_id).await {
        Ok(o) => o,
        Err(e) => return service_error_page(app, e),
    };
    let p = &overview.profile;
    let ar = &p.auto_recharge;
    let page = BillingPage {
        tab,
        balance: usd(overview.account.balance),
        available: usd(overview.account.available()),
        negative: overview.account.available().is_negative(),
        auto_recharge: AutoRechargeView {
            enabled: ar.enabled,
            threshold: usd(ar.threshold),
            recharge_to: usd(ar.recharge_to),
            monthly_cap: ar.monthly_cap.map(usd),
            failures: ar.failures,
            configured: ar.recharge_to.is_positive(),
        },
        card: p.card.as_ref().map(|c| CardView {
            label: card_label(&c.brand, &c.last4),
            exp: format!("{:02}/{}", c.exp_month, c.exp_year),
        }),
        address: p.address.as_ref().map(AddressView::from),
        min_purchase: usd(app.config.billing.min_purchase),
        max_purchase: usd(app.config.billing.max_purchase),
        idempotency_key: new_id(IdPrefix::Payment).replacen("pay_", "web_", 1),
        content: tab_content(app, session, org_id, tab).await,
        extra,
    };
    org_page(
        app,
        session,
        &membership,
        Section::Billing,
        "billing.html",
        status,
        &page,
    )
    .await
}

/// What only tab `tab` shows. A list that cannot be read is shown empty.
async fn tab_content(app: &App, session: &CurrentSession, org_id: &OrgId, tab: &str) -> TabContent {
    match tab {
        "payg" => {
            let grants = app
                .list_credit_grants(&session.user, org_id, None, 100)
                .await
                .map(|g| g.data)
                .unwrap_or_default();
            TabContent {
                grants: Some(
                    grants
                        .into_iter()
                        .map(|g| GrantRow {
                            date: day(g.created_at),
                            source: g.source.as_str(),
                            category: g.category.as_str(),
                            amount: usd(g.amount),
                            remaining: usd(g.remaining),
                            expires: g.expires_at.map(day),
                            description: g.description,
                        })
                        .collect(),
                ),
                ..TabContent::default()
            }
        }
        "receipts" => {
            let payments = app
                .list_payments(&session.user, org_id, None, 100)
                .await
                .map(|p| p.data)
                .unwrap_or_default();
            TabContent {
                payments: Some(
                    payments
                        .into_iter()
                        .map(|p| {
                            let date = day(p.created_at);
                            payment_row(p, date)
                        })
                        .collect(),
                ),
                ..TabContent::default()
            }
        }
        "payment" => TabContent {
            card_form: Some(match app.payments.card_form() {
                CardForm::Sandbox => CardFormView::Sandbox,
                CardForm::Stripe { publishable_key } => CardFormView::Stripe { publishable_key },
            }),
            ..TabContent::default()
        },
        "address" => TabContent {
            countries: Some(
                COUNTRIES
                    .iter()
                    .map(|&(code, name)| Country { code, name })
                    .collect(),
            ),
            ..TabContent::default()
        },
        _ => TabContent::default(),
    }
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
                BillingExtra {
                    notice,
                    ..BillingExtra::default()
                },
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
        Err(e) => return service_error_page(&app, e),
    };
    // The address in force when the payment was made, kept on it: never today's.
    let address = p.bill_to.as_ref().map(AddressView::from);
    render(
        &app,
        &session,
        &org_id,
        "receipt",
        StatusCode::OK,
        BillingExtra {
            receipt: Some(ReceiptView {
                settled: p.settled_at.map(minute),
                payment_method: p.payment_method.clone(),
                payment: {
                    let date = minute(p.created_at);
                    payment_row(p, date)
                },
            }),
            bill_to: address,
            ..BillingExtra::default()
        },
    )
    .await
}

/// A payment as the receipts list and the receipt show it, dated as the caller says.
fn payment_row(p: Payment, date: String) -> PaymentRow {
    PaymentRow {
        date,
        kind: p.kind.as_str(),
        amount: usd(p.amount),
        status: p.status.as_str(),
        id: p.id,
        description: p.description,
        failure: p.failure_message,
    }
}

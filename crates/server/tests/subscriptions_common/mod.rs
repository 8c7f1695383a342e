//! Helpers of the subscription tests: a saved sandbox card, subscribing, reading payments.
#![allow(dead_code)]

use serde_json::{json, Value};
use tollgate_server::payments::{CardDetails, CardInput, PaymentProvider};
use tollgate_server::testing::{send, TestApp, TestUser};
use tollgate_store::{AuditEntry, StoredCard};

pub const GOOD_CARD: &str = "4242424242424242";
pub const DECLINED_CARD: &str = "4000000000000002";

/// Saves a sandbox test card as the organization's payment method, as the Payment tab does.
pub async fn save_card(t: &TestApp, org_id: &tollgate_domain::OrgId, number: &str) {
    let app = &t.app;
    let now = app.now();
    let customer = app
        .payments
        .ensure_customer(org_id, "billing@example.com", "Billing")
        .await
        .unwrap();
    app.store
        .set_customer_ref(org_id, customer.as_str(), now)
        .await
        .unwrap();
    let card = CardInput::Details(CardDetails {
        card_number: number.to_owned(),
        exp_month: 12,
        exp_year: 2040,
        cvc: "123".to_owned(),
    });
    let saved = app.payments.save_card(&customer, &card, now).await.unwrap();
    app.store
        .save_card(
            org_id,
            &StoredCard {
                card_ref: saved.provider_ref.as_str().to_owned(),
                brand: saved.brand.as_str().to_owned(),
                last4: saved.last4.clone(),
                exp_month: i64::from(saved.exp_month),
                exp_year: i64::from(saved.exp_year),
            },
            now,
            AuditEntry {
                actor_id: None,
                actor_email: None,
                action: "billing.payment_method.set",
                target_type: "organization",
                target_id: org_id,
                details: json!({}),
                ip: None,
            },
        )
        .await
        .unwrap();
}

pub fn subs_url(t: &TestApp, org_id: &str) -> String {
    t.url(&format!("/api/v1/orgs/{org_id}/subscriptions"))
}

pub async fn subscribe(t: &TestApp, user: &TestUser, model: &str, tier: &str) -> (u16, Value) {
    send(
        user.client
            .post(subs_url(t, &user.org_id))
            .json(&json!({"model": model, "tier": tier})),
    )
    .await
}

/// Subscription payments of an organization: (amount in micro-USD, status, idempotency key).
pub async fn subscription_payments(
    t: &TestApp,
    org_id: &tollgate_domain::OrgId,
) -> Vec<(i64, String, String)> {
    let mut out: Vec<(i64, String, String)> = t
        .app
        .store
        .payments(org_id, tollgate_store::PageRequest::first(1000))
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.kind.as_str() == "subscription")
        .map(|p| {
            (
                p.amount.micros(),
                p.status.as_str().to_owned(),
                p.idempotency_key,
            )
        })
        .collect();
    out.sort_by(|a, b| a.2.cmp(&b.2));
    out
}

/// Signs `user` in again (after the test clock moved past the session's idle time).
pub async fn sign_in(t: &TestApp, user: &TestUser) {
    let (s, _) = send(
        user.client
            .post(t.url("/api/v1/auth/login"))
            .json(&json!({"email": user.email, "password": tollgate_server::testing::PASSWORD})),
    )
    .await;
    assert_eq!(s, 200);
}
